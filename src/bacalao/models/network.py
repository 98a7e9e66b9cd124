"""Task network access ``{Type, Domains}``: None (the default), Full or HTTP (domain allow-list)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from bacalao.models._wire import WireModel, spec_error

_DOMAIN = re.compile(r"\.?([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}")


class NetworkType(StrEnum):
    """How much network a task gets; parsed case-insensitively (``none``, ``host``, ``full``,
    ``http``). ``Host`` shares the node's network namespace (its loopback included)."""

    NONE = "None"
    HOST = "Host"
    FULL = "Full"
    HTTP = "HTTP"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("", "none"):
                return cls.NONE
            for member in cls:
                if member.value.lower() == text:
                    return member
        return None


class Network(WireModel):
    """A task's network: ``Type`` None|Host|Full|HTTP and, for HTTP, the allowed ``Domains``.

    Domains are lower-cased; each must be a domain name (a leading dot allows subdomains) or an IP.
    """

    type: NetworkType = Field(default=NetworkType.NONE, alias="Type")
    domains: list[str] = Field(default_factory=list, alias="Domains")

    _omit_empty = frozenset({"domains"})

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if value is None:
            return NetworkType.NONE
        try:
            return NetworkType(value)
        except ValueError:
            raise spec_error(
                f"unknown network type '{value}'", "valid network types: None, Host, Full, HTTP"
            ) from None

    @field_validator("domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            domain = str(item).strip().lower()
            if not _is_domain_or_ip(domain):
                raise spec_error(
                    f"invalid domain '{item}'", "use a name like example.com, .example.com or an IP"
                )
            out.append(domain)
        return out

    @model_validator(mode="after")
    def _domains_need_http(self) -> Network:
        if self.domains and self.type is not NetworkType.HTTP:
            raise spec_error(
                f"Domains need network type HTTP, not {self.type.value}", "set Type: HTTP"
            )
        return self

    @property
    def disabled(self) -> bool:
        """True when the task gets no network at all."""
        return self.type is NetworkType.NONE


def _is_domain_or_ip(text: str) -> bool:
    if _DOMAIN.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
