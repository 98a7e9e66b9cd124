"""Input sources ``{Source {Type, Params}, Alias, Target}`` and each source type's own params.

Types follow Bacalhau's names (``ipfs``, ``localDirectory``, ``urlDownload``, ``inline``, ``s3``,
``noop``), matched case-insensitively and written back in Bacalhau's spelling. The params of each
type are validated by its own model when the spec is parsed, and stored back with Bacalhau's keys;
an unknown type is an error that lists the valid ones. The default Target is ``/inputs``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from bacalao.models._wire import WireModel, nested_error, spec_error
from bacalao.models.spec_config import SpecConfig

DEFAULT_TARGET = "/inputs"
_CID = re.compile(r"[A-Za-z0-9]{8,}")


class IPFSSource(WireModel):
    """``ipfs`` params: the ``CID`` of a file or directory in the content store."""

    cid: str = Field(alias="CID")

    @field_validator("cid")
    @classmethod
    def _cid(cls, value: str) -> str:
        value = value.strip().removeprefix("ipfs://").removeprefix("/ipfs/")
        if not _CID.fullmatch(value):
            raise spec_error(f"invalid CID '{value}'", "a CID looks like Qm… or bafy…")
        return value


class LocalDirectorySource(WireModel):
    """``localDirectory`` params: an absolute host ``SourcePath``, read-only unless ``ReadWrite``.

    Nodes mount only paths on their allow-list; that check belongs to the node, not the spec.
    """

    source_path: str = Field(alias="SourcePath")
    read_write: bool = Field(default=False, alias="ReadWrite")

    @field_validator("source_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise spec_error(f"SourcePath must be absolute, got '{value}'")
        return value


class URLDownloadSource(WireModel):
    """``urlDownload`` params: an http(s) ``URL`` fetched into the target directory."""

    url: str = Field(alias="URL")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value.strip()):
            raise spec_error(f"URL must be http(s), got '{value}'")
        return value.strip()


class InlineSource(WireModel):
    """``inline`` params: the data itself as an RFC 2397 ``data:`` ``URL``."""

    url: str = Field(alias="URL")

    @field_validator("url")
    @classmethod
    def _data_url(cls, value: str) -> str:
        if not value.startswith("data:") or "," not in value:
            raise spec_error(
                "inline URL must be a data: URL", "e.g. data:text/plain;base64,aGVsbG8="
            )
        return value


class S3Source(WireModel):
    """``s3`` params (Bacalhau's): a ``Bucket`` and optional key prefix, filter and endpoint."""

    bucket: str = Field(alias="Bucket", min_length=1)
    key: str = Field(default="", alias="Key")
    filter: str = Field(default="", alias="Filter")
    region: str = Field(default="", alias="Region")
    endpoint: str = Field(default="", alias="Endpoint")
    version_id: str = Field(default="", alias="VersionID")
    checksum_sha256: str = Field(default="", alias="ChecksumSHA256")

    _omit_empty = frozenset(
        {"key", "filter", "region", "endpoint", "version_id", "checksum_sha256"}
    )


class NoopSource(WireModel):
    """``noop`` params: none (Bacalhau's test-only source)."""


SOURCE_TYPES: dict[str, type[WireModel]] = {
    "ipfs": IPFSSource,
    "localDirectory": LocalDirectorySource,
    "urlDownload": URLDownloadSource,
    "inline": InlineSource,
    "s3": S3Source,
    "noop": NoopSource,
}
"""Source type (Bacalhau spelling) -> its params model."""
_BY_LOWER = {name.lower(): name for name in SOURCE_TYPES}


class SourceSpec(SpecConfig):
    """A SpecConfig whose Type is a known source type, spelled as Bacalhau spells it."""

    @field_validator("type", mode="before")
    @classmethod
    def _normalise_type(cls, value: Any) -> Any:
        text = "" if value is None else str(value).strip()
        canonical = _BY_LOWER.get(text.lower())
        if canonical is None:
            raise spec_error(
                f"unknown input source type '{text}'",
                "valid input source types: " + ", ".join(SOURCE_TYPES),
            )
        return canonical

    @model_validator(mode="after")
    def _check_params(self) -> SourceSpec:
        # Validate with the type's own model, then store its canonical Bacalhau-keyed form.
        model = SOURCE_TYPES[self.type]
        try:
            parsed = model.model_validate(self.params)
        except ValidationError as exc:
            raise nested_error(exc.errors(include_url=False)[0], "Params") from None
        self.params = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self

    def decoded(self) -> WireModel:
        """The params as their typed model (``IPFSSource``, ``URLDownloadSource``…)."""
        return SOURCE_TYPES[self.type].model_validate(self.params)


class InputSource(WireModel):
    """One input of a task: where it comes from (``Source``), its ``Alias`` and mount ``Target``."""

    source: SourceSpec = Field(alias="Source")
    alias: str = Field(default="", alias="Alias")
    target: str = Field(default=DEFAULT_TARGET, alias="Target")

    @field_validator("alias", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_TARGET
        if isinstance(value, str) and not value.strip().startswith("/"):
            raise spec_error(f"Target must be an absolute path, got '{value}'", "e.g. /inputs")
        return value.strip() if isinstance(value, str) else value

    @property
    def type(self) -> str:
        """The source type, e.g. ``ipfs``."""
        return self.source.type

    @property
    def cid(self) -> str | None:
        """The CID of an ``ipfs`` source, else None."""
        return self.source.params.get("CID") if self.source.type == "ipfs" else None
