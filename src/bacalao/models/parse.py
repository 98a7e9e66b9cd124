"""Load job specs from YAML/JSON and dump models in Bacalhau's wire shapes.

Parsing is where a user's mistake becomes a clear message: every failure is an
:class:`~bacalao.errors.InvalidInput` whose message starts with the field path
(``Tasks[0].Resources.Memory: invalid size '12 potatoes'``) and whose hint says how to fix it.
Keys are matched case-insensitively, as Go's ``encoding/json`` does; unknown keys are rejected.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bacalao.errors import InvalidInput, NotFound
from bacalao.models._wire import invalid_input_from
from bacalao.models.event import JobHistory
from bacalao.models.execution import Execution
from bacalao.models.job import Job
from bacalao.models.job_state import ExecutionStateType

SYSTEM_FIELDS = ("ID", "State", "Version", "Revision", "CreateTime", "ModifyTime")
"""Job keys the orchestrator owns; ``reject_system_fields`` refuses them (like Bacalhau's CLI)."""

__all__ = [
    "SYSTEM_FIELDS",
    "dump_execution",
    "dump_history",
    "dump_job",
    "invalid_input_from",
    "load_job",
    "load_job_file",
    "ns_to_rfc3339",
    "parse_execution",
    "parse_job",
    "parse_job_text",
    "parse_text",
]


def parse_text(text: str | bytes, *, fmt: str | None = None, what: str = "spec") -> Any:
    """YAML or JSON text -> Python data. JSON when ``fmt="json"`` or the text starts with ``{``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{what} is not UTF-8 text", hint="save it as UTF-8") from None
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(f"{what} is empty", hint="write a job in YAML or JSON")
    if fmt == "json" or (fmt is None and stripped.startswith("{")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                hint="check the brackets, commas and quotes around that point",
            ) from None
    import yaml  # lazily: YAML is only needed for specs, not for the API's JSON

    try:
        return yaml.safe_load(stripped)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise InvalidInput(
            f"{what} is not valid YAML: {problem}{where}",
            hint="check the indentation and the ':' after each key",
        ) from None


def parse_job(data: Any, *, reject_system_fields: bool = False) -> Job:
    """A :class:`Job` from parsed data (a dict with Bacalhau keys in any case)."""
    if isinstance(data, Job):
        return data
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise InvalidInput(
            f"a job spec must be a mapping of fields, got {kind}",
            hint="start with 'Name:', 'Type: batch' and 'Tasks:'",
        )
    if reject_system_fields:
        owned = {key.lower(): key for key in SYSTEM_FIELDS}
        for key in data:
            if isinstance(key, str) and key.lower() in owned:
                raise InvalidInput(
                    f"{key}: not allowed in a submitted spec",
                    hint=f"remove {owned[key.lower()]}; the orchestrator sets it",
                )
    try:
        return Job.model_validate(data)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


def parse_job_text(
    text: str | bytes, *, fmt: str | None = None, reject_system_fields: bool = False
) -> Job:
    """A :class:`Job` from YAML or JSON text."""
    return parse_job(parse_text(text, fmt=fmt), reject_system_fields=reject_system_fields)


def load_job_file(path: str | os.PathLike[str], *, reject_system_fields: bool = False) -> Job:
    """A :class:`Job` from a ``.yaml``, ``.yml`` or ``.json`` file (``.json`` parses as JSON)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"spec file {p} not found", hint="check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{p} is a directory, not a spec file") from None
    fmt = "json" if p.suffix.lower() == ".json" else None
    try:
        return parse_job_text(data, fmt=fmt, reject_system_fields=reject_system_fields)
    except InvalidInput as exc:
        raise InvalidInput(f"{p.name}: {exc.message}", hint=exc.hint) from None


def load_job(
    source: Job | dict[str, Any] | str | bytes | os.PathLike[str],
    *,
    reject_system_fields: bool = False,
) -> Job:
    """A :class:`Job` from a dict, YAML/JSON text (str or bytes), or a file path (``Path``)."""
    if isinstance(source, os.PathLike):
        return load_job_file(source, reject_system_fields=reject_system_fields)
    if isinstance(source, str | bytes):
        return parse_job_text(source, reject_system_fields=reject_system_fields)
    return parse_job(source, reject_system_fields=reject_system_fields)


def dump_job(job: Job) -> dict[str, Any]:
    """The job as a JSON-ready dict with Bacalhau's keys (bacalao's blocks only when set)."""
    return job.to_wire()


def parse_execution(data: Any) -> Execution:
    """An :class:`Execution` from a dict: bacalao's shape or Bacalhau's v1 REST shape
    (integer states, ``AllocatedResources.Tasks``, ``FollowupEvalID``, an empty ``Job``)."""
    if isinstance(data, dict):
        data = dict(data)
        for key in list(data):
            lowered = key.lower() if isinstance(key, str) else key
            if lowered in ("followupevalid", "job"):
                del data[key]
            elif lowered == "allocatedresources":
                tasks = (data.pop(key) or {}).get("Tasks") or {}
                if tasks and not any(str(k).lower() == "allocated" for k in data):
                    data["Allocated"] = next(iter(tasks.values()))
    try:
        return Execution.model_validate(data)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


def dump_execution(
    execution: Execution, *, bacalhau: bool = True, task_name: str = ""
) -> dict[str, Any]:
    """The execution as a dict; with ``bacalhau`` the v1 REST shape (integer states,
    ``AllocatedResources.Tasks``, ``FollowupEvalID``), keeping bacalao's extra keys."""
    out = execution.to_wire()
    if not bacalhau:
        return out
    out["ComputeState"]["StateType"] = execution.compute_state.state_type.bacalhau_code
    out["DesiredState"]["StateType"] = execution.desired_state.state_type.bacalhau_code
    allocated = out.pop("Allocated", {})
    out["AllocatedResources"] = {"Tasks": {task_name: allocated} if task_name else {}}
    out.setdefault("PublishedResult", {"Type": ""})
    out.setdefault("FollowupEvalID", "")
    return out


def ns_to_rfc3339(ns: int) -> str:
    """Unix nanoseconds as Go's RFC3339Nano (trailing zeros trimmed; 0 is Go's zero time)."""
    if ns <= 0:
        return "0001-01-01T00:00:00Z"
    seconds, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def dump_history(entry: JobHistory, *, bacalhau: bool = True) -> dict[str, Any]:
    """A history entry; with ``bacalhau`` the v1 shape (RFC 3339 times, integer execution states,
    ``Comment``), keeping ``Seq`` and ``StimulusID``."""
    out = entry.to_wire()
    if not bacalhau:
        return out
    out["Time"] = ns_to_rfc3339(entry.time)
    out["Event"]["Timestamp"] = ns_to_rfc3339(entry.event.timestamp)
    if entry.event.message:
        out["Comment"] = entry.event.message
    if entry.execution_state is not None:
        out["ExecutionState"] = {
            key: ExecutionStateType(value).bacalhau_code
            for key, value in out["ExecutionState"].items()
        }
    return out
