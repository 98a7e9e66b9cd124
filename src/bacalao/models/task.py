"""A task: what runs (engine), on what (inputs), with what limits, and where results go."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from bacalao.models._wire import WireModel, spec_error, str_map
from bacalao.models.input_source import InputSource
from bacalao.models.network import Network
from bacalao.models.publisher import Publisher
from bacalao.models.resources import Resources
from bacalao.models.spec_config import SpecConfig
from bacalao.models.timeouts import Timeouts


class ResultPath(WireModel):
    """A path inside the task (``Path``) whose contents are published under ``Name``."""

    name: str = Field(alias="Name")
    path: str = Field(alias="Path")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or value in (".", "..", "stdout", "stderr", "exitCode"):
            raise spec_error(
                f"invalid result name '{value}'",
                "a plain name, not stdout, stderr or exitCode (the result layout uses those)",
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/"):
            raise spec_error(f"result Path must be absolute, got '{value}'", "e.g. /outputs")
        return value


class Task(WireModel):
    """One task of a job (Bacalhau's ``Task``); engine params are validated by the executor."""

    name: str = Field(alias="Name")
    engine: SpecConfig = Field(alias="Engine")
    publisher: Publisher = Field(default_factory=Publisher, alias="Publisher")
    env: dict[str, str] = Field(default_factory=dict, alias="Env")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    input_sources: list[InputSource] = Field(default_factory=list, alias="InputSources")
    result_paths: list[ResultPath] = Field(default_factory=list, alias="ResultPaths")
    resources: Resources = Field(default_factory=Resources, alias="Resources")
    network: Network = Field(default_factory=Network, alias="Network")
    timeouts: Timeouts = Field(default_factory=Timeouts, alias="Timeouts")

    _omit_empty = frozenset({"env", "meta", "input_sources", "result_paths"})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise spec_error("task name is blank", "give the task a Name, e.g. main")
        return value

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: SpecConfig) -> SpecConfig:
        if not value.type:
            raise spec_error("engine Type is blank", "e.g. Type: docker (or wasm, shell, noop)")
        return value

    @field_validator("env", "meta", mode="before")
    @classmethod
    def _maps(cls, value: Any) -> Any:
        return str_map(value)

    @field_validator("publisher", "resources", "network", "timeouts", mode="before")
    @classmethod
    def _none_is_default(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("input_sources", "result_paths", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _unique(self) -> Task:
        _check_unique(
            [s.alias or None for s in self.input_sources], "InputSources", "Alias", "alias"
        )
        _check_unique([s.target for s in self.input_sources], "InputSources", "Target", "target")
        _check_unique([r.name for r in self.result_paths], "ResultPaths", "Name", "result name")
        return self

    def input_by_alias(self, alias: str) -> InputSource | None:
        """The input source with this alias, or None."""
        return next((s for s in self.input_sources if s.alias == alias), None)


def _check_unique(values: list[str | None], field: str, key: str, what: str) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value is None:
            continue
        if value in seen:
            raise spec_error(
                f"duplicate {what} '{value}' (also at {field}[{seen[value]}])",
                f"give each entry its own {key}",
                subpath=f"{field}[{i}].{key}",
            )
        seen[value] = i
