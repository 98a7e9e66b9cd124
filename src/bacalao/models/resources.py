"""Resources: what a task asks for (strings, as written) and amounts a node has (numbers).

* :class:`Resources` is the task's ``Resources {CPU, Memory, Disk, GPU}`` block. Like Bacalhau it
  keeps the strings the user wrote (``"500m"``, ``"1Gi"``) so a spec round-trips unchanged, but
  validates them at parse time and exposes the parsed numbers (``cpu_cores``, ``memory_bytes``…).
* :class:`ResourceAmounts` holds parsed numbers (cores, bytes, GPU count) with arithmetic, for
  node capacity, free capacity and allocations.

Parsing follows Bacalhau: strings are lower-cased with spaces removed; CPU as a Kubernetes quantity
(``"500m"`` = 0.5 cores, ``"1.5"``); Memory and Disk like go-humanize (``"512mb"`` = 512·10⁶,
``"1Gi"``/``"1GiB"`` = 2³⁰, a bare number is bytes); GPU as a whole count.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field, field_validator

from bacalao.models._wire import WireModel, spec_error

_SIZE_UNITS: dict[str, int] = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _SIZE_UNITS[_p] = _SIZE_UNITS[_p + "b"] = 1000**_i
    _SIZE_UNITS[_p + "i"] = _SIZE_UNITS[_p + "ib"] = 1024**_i

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_SIZE_RE = re.compile(_NUMBER + r"([a-z]*)")
_CPU_RE = re.compile(_NUMBER + r"(m?)")
SIZE_HINT = "use a number of bytes or a unit: 512mb, 1.5gb, 2Gi, 1GiB"
CPU_HINT = "use cores (1, 0.5, 1.5) or millicores (500m)"


def _clean(value: str | int | float) -> str:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    return re.sub(r"\s+", "", str(value)).lower()


def parse_size(value: str | int | float) -> int:
    """Bytes from ``"512mb"``, ``"1Gi"``, ``"1.5GB"`` or a bare number. ValueError if malformed."""
    text = _clean(value)
    match = _SIZE_RE.fullmatch(text)
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"invalid size '{value}'")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise ValueError(f"invalid size '{value}'") from None
    return int(number * _SIZE_UNITS[match.group(2)])


def parse_cpu(value: str | int | float) -> float:
    """Cores from ``"500m"``, ``"0.5"``, ``"2"`` (a Kubernetes CPU quantity). ValueError if bad."""
    text = _clean(value)
    match = _CPU_RE.fullmatch(text)
    if not match:
        raise ValueError(f"invalid CPU amount '{value}'")
    cores = float(match.group(1))
    return cores / 1000 if match.group(2) == "m" else cores


def parse_gpu(value: str | int) -> int:
    """A whole, non-negative GPU count. ValueError if malformed."""
    text = _clean(value)
    if not text.isdigit():
        raise ValueError(f"invalid GPU count '{value}'")
    return int(text)


def format_size(n: int) -> str:
    """A short human size in binary units: ``1073741824`` -> ``1GiB``, ``1536`` -> ``1.5KiB``."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= factor:
            return f"{n / factor:.4g}{unit}"
    return f"{n}B"


def format_cpu(cores: float) -> str:
    """``0.5`` -> ``500m``, ``2.0`` -> ``2``."""
    if cores == int(cores):
        return str(int(cores))
    return f"{round(cores * 1000)}m"


def _as_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and not value.strip():
        return None
    return value


class Resources(WireModel):
    """A task's resource request, as written: ``{CPU, Memory, Disk, GPU}`` strings, all optional.

    Values are validated on parse (a bad one is an error with its field path) and kept verbatim;
    use ``cpu_cores``, ``memory_bytes``, ``disk_bytes``, ``gpu_count`` or :meth:`amounts` for
    numbers (0 when unset).
    """

    cpu: str | None = Field(default=None, alias="CPU")
    memory: str | None = Field(default=None, alias="Memory")
    disk: str | None = Field(default=None, alias="Disk")
    gpu: str | None = Field(default=None, alias="GPU")

    @field_validator("cpu", "memory", "disk", "gpu", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("cpu")
    @classmethod
    def _check_cpu(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_cpu(value)
            except ValueError as exc:
                raise spec_error(str(exc), CPU_HINT) from None
        return value

    @field_validator("memory", "disk")
    @classmethod
    def _check_size(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_size(value)
            except ValueError as exc:
                raise spec_error(str(exc), SIZE_HINT) from None
        return value

    @field_validator("gpu")
    @classmethod
    def _check_gpu(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_gpu(value)
            except ValueError as exc:
                raise spec_error(str(exc), "use a whole number of GPUs: 1, 2") from None
        return value

    @property
    def cpu_cores(self) -> float:
        """Requested cores (0.0 when unset)."""
        return parse_cpu(self.cpu) if self.cpu else 0.0

    @property
    def memory_bytes(self) -> int:
        """Requested memory in bytes (0 when unset)."""
        return parse_size(self.memory) if self.memory else 0

    @property
    def disk_bytes(self) -> int:
        """Requested disk in bytes (0 when unset)."""
        return parse_size(self.disk) if self.disk else 0

    @property
    def gpu_count(self) -> int:
        """Requested GPUs (0 when unset)."""
        return parse_gpu(self.gpu) if self.gpu else 0

    def amounts(self) -> ResourceAmounts:
        """The request as numbers."""
        return ResourceAmounts(
            cpu=self.cpu_cores, memory=self.memory_bytes, disk=self.disk_bytes, gpu=self.gpu_count
        )


class ResourceAmounts(WireModel):
    """Parsed amounts: ``CPU`` cores (float), ``Memory``/``Disk`` bytes, ``GPU`` count.

    The shape of Bacalhau's parsed ``Resources`` (node capacity, ``AllocatedResources``). Input
    accepts numbers or the same strings as :class:`Resources` (``"8Gi"``). Arithmetic is
    element-wise; :meth:`shortfall` explains why a request does not fit.
    """

    cpu: float = Field(default=0.0, alias="CPU", ge=0)
    memory: int = Field(default=0, alias="Memory", ge=0)
    disk: int = Field(default=0, alias="Disk", ge=0)
    gpu: int = Field(default=0, alias="GPU", ge=0)

    _omit_empty = frozenset({"cpu", "memory", "disk", "gpu"})

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> Any:
        return _parse_or_spec_error(parse_cpu, value, CPU_HINT)

    @field_validator("memory", "disk", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return _parse_or_spec_error(parse_size, value, SIZE_HINT)

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, value: Any) -> Any:
        return _parse_or_spec_error(parse_gpu, value, "use a whole number of GPUs")

    def __add__(self, other: ResourceAmounts) -> ResourceAmounts:
        return ResourceAmounts(
            cpu=self.cpu + other.cpu,
            memory=self.memory + other.memory,
            disk=self.disk + other.disk,
            gpu=self.gpu + other.gpu,
        )

    def __sub__(self, other: ResourceAmounts) -> ResourceAmounts:
        """Element-wise difference, floored at zero (never negative)."""
        return ResourceAmounts(
            cpu=max(0.0, round(self.cpu - other.cpu, 9)),
            memory=max(0, self.memory - other.memory),
            disk=max(0, self.disk - other.disk),
            gpu=max(0, self.gpu - other.gpu),
        )

    def is_zero(self) -> bool:
        """True when every amount is zero."""
        return not (self.cpu or self.memory or self.disk or self.gpu)

    def fits(self, request: ResourceAmounts) -> bool:
        """True when ``request`` fits in these (free) amounts."""
        return not self.shortfall(request)

    def shortfall(self, request: ResourceAmounts) -> list[str]:
        """One readable reason per amount that ``request`` exceeds here; empty if it fits."""
        reasons = []
        if request.cpu > self.cpu + 1e-9:
            reasons.append(f"cpu: needs {format_cpu(request.cpu)}, {format_cpu(self.cpu)} free")
        if request.memory > self.memory:
            reasons.append(
                f"memory: needs {format_size(request.memory)}, {format_size(self.memory)} free"
            )
        if request.disk > self.disk:
            need, free = format_size(request.disk), format_size(self.disk)
            reasons.append(f"disk: needs {need}, {free} free")
        if request.gpu > self.gpu:
            reasons.append(f"gpu: needs {request.gpu}, {self.gpu} free")
        return reasons

    def __str__(self) -> str:
        parts = [f"cpu={format_cpu(self.cpu)}", f"memory={format_size(self.memory)}"]
        if self.disk:
            parts.append(f"disk={format_size(self.disk)}")
        if self.gpu:
            parts.append(f"gpu={self.gpu}")
        return " ".join(parts)


def _parse_or_spec_error(parse: Any, value: Any, hint: str) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError as exc:
            raise spec_error(str(exc), hint) from None
    return value
