"""GPU detection with ``nvidia-smi``: what a compute node advertises as GPU resources and labels.

:func:`detect_gpus` runs ``nvidia-smi --query-gpu=index,uuid,name,memory.total
--format=csv,noheader,nounits`` and :func:`parse_nvidia_smi` reads its output. A machine without the
binary, or whose driver does not answer, has no GPUs (``[]``): a node must start without one. This
module uses the standard library only, so it can be checked on a bare GPU machine.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

_logger = logging.getLogger(__name__)

NVIDIA_SMI_QUERY = [
    "nvidia-smi",
    "--query-gpu=index,uuid,name,memory.total",
    "--format=csv,noheader,nounits",
]
#: nvidia-smi can hang on a wedged driver; a node must not hang at start with it.
DETECT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class GPU:
    """One device as ``nvidia-smi`` lists it; ``index`` is what Docker's device requests name."""

    index: int
    uuid: str
    model: str
    memory_mb: int
    vendor: str = "nvidia"


class NvidiaSmiParseError(ValueError):
    """A line of ``nvidia-smi`` CSV output that is not a GPU record (raised in strict mode)."""


def parse_nvidia_smi(text: str, *, strict: bool = False) -> list[GPU]:
    """Parse ``index, uuid, name, memory.total`` CSV lines, sorted by index.

    A model name may itself contain commas, so the first two and the last field are taken from the
    ends and the name is what lies between. Lines that are not records (driver warnings, "No devices
    were found", blank lines) are skipped with a warning, or raise :class:`NvidiaSmiParseError` when
    ``strict``. A memory of ``[N/A]`` is read as 0.
    """
    gpus: list[GPU] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            gpus.append(_parse_line(line))
        except NvidiaSmiParseError as exc:
            if strict:
                raise NvidiaSmiParseError(f"nvidia-smi output line {lineno}: {exc}") from None
            _logger.warning("ignoring nvidia-smi output line %d: %s", lineno, exc)
    indexes = [g.index for g in gpus]
    if len(set(indexes)) != len(indexes):
        raise NvidiaSmiParseError(f"nvidia-smi listed a GPU index twice: {indexes}")
    return sorted(gpus, key=lambda g: g.index)


def _parse_line(line: str) -> GPU:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) < 4:
        raise NvidiaSmiParseError(f"expected 4 comma-separated fields, got {line!r}")
    index, uuid, memory = fields[0], fields[1], fields[-1]
    model = ", ".join(fields[2:-1])
    if not index.isdigit():
        raise NvidiaSmiParseError(f"GPU index {index!r} is not a number in {line!r}")
    if not uuid.startswith(("GPU-", "MIG-")):
        raise NvidiaSmiParseError(f"{uuid!r} is not a GPU UUID in {line!r}")
    if memory.isdigit():
        memory_mb = int(memory)
    elif memory.strip("[]").upper() in ("N/A", "NOT SUPPORTED", "UNKNOWN ERROR"):
        memory_mb = 0
    else:
        raise NvidiaSmiParseError(f"memory {memory!r} is not a number of MiB in {line!r}")
    if not model:
        raise NvidiaSmiParseError(f"empty GPU name in {line!r}")
    return GPU(index=int(index), uuid=uuid, model=model, memory_mb=memory_mb)


def detect_gpus(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[GPU]:
    """The NVIDIA GPUs of this machine; ``[]`` without ``nvidia-smi`` or a working driver.

    ``run`` is :func:`subprocess.run` or a fake with its signature (tests replay recorded output).
    """
    try:
        proc = run(
            NVIDIA_SMI_QUERY,
            capture_output=True,
            text=True,
            timeout=DETECT_TIMEOUT_S,
            check=False,
        )
    except (FileNotFoundError, PermissionError):
        return []
    except (subprocess.TimeoutExpired, OSError) as exc:
        _logger.warning("nvidia-smi failed, advertising no GPUs: %s", exc)
        return []
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout or "").strip().splitlines()
        if "No devices were found" not in (proc.stdout or "") + (proc.stderr or ""):
            _logger.warning(
                "nvidia-smi exited %d, advertising no GPUs: %s",
                proc.returncode,
                message[0] if message else "(no output)",
            )
        return []
    try:
        return parse_nvidia_smi(proc.stdout or "")
    except NvidiaSmiParseError as exc:
        _logger.warning("unreadable nvidia-smi output, advertising no GPUs: %s", exc)
        return []


def gpu_labels(gpus: list[GPU]) -> dict[str, str]:
    """Node labels describing the GPUs, for constraints like ``gpu-model=NVIDIA H100 80GB HBM3``."""
    if not gpus:
        return {}
    models = sorted({g.model for g in gpus})
    return {
        "gpu-count": str(len(gpus)),
        "gpu-model": ",".join(models),
        "gpu-memory-mb": str(min(g.memory_mb for g in gpus)),
        "gpu-vendor": "nvidia",
    }
