"""Resource strings: CPU quantities, byte sizes, GPU counts, and capacity arithmetic."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bacalao.models import ResourceAmounts, Resources, format_size, parse_cpu, parse_gpu, parse_size
from bacalao.models.resources import format_cpu


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("500m", 0.5),
        ("1.5", 1.5),
        ("2", 2.0),
        (2, 2.0),
        (0.25, 0.25),
        (" 250 M ", 0.25),
        (".5", 0.5),
    ],
)
def test_parse_cpu(text: str, cores: float) -> None:
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize("text", ["", "lots", "-1", "1.5.2", "500mm", "1k", True])
def test_parse_cpu_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512mb", 512_000_000),
        ("512MB", 512_000_000),
        ("1Gb", 1_000_000_000),
        ("1Gi", 1 << 30),
        ("1GiB", 1 << 30),
        ("2GiB", 2 << 30),
        ("1.5gb", 1_500_000_000),
        ("1.1GB", 1_100_000_000),
        ("100", 100),
        (4096, 4096),
        ("10 KiB", 10240),
        ("1k", 1000),
        ("1T", 10**12),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["12 potatoes", "1xb", "gb", "-5mb", "1..2gb", ""])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_parse_gpu() -> None:
    assert parse_gpu("2") == 2 and parse_gpu(0) == 0
    for bad in ("1.5", "-1", "two"):
        with pytest.raises(ValueError):
            parse_gpu(bad)


def test_resources_keep_the_strings_and_expose_numbers() -> None:
    r = Resources.model_validate({"cpu": "500m", "MEMORY": "1Gi", "Disk": 2048, "gpu": 1})
    assert (r.cpu, r.memory, r.disk, r.gpu) == ("500m", "1Gi", "2048", "1")
    assert (r.cpu_cores, r.memory_bytes, r.disk_bytes, r.gpu_count) == (0.5, 1 << 30, 2048, 1)
    assert r.to_wire() == {"CPU": "500m", "Memory": "1Gi", "Disk": "2048", "GPU": "1"}
    assert r.amounts() == ResourceAmounts(cpu=0.5, memory=1 << 30, disk=2048, gpu=1)
    empty = Resources()
    assert empty.amounts().is_zero() and empty.to_wire() == {}


def test_resource_amounts_accept_strings_and_do_arithmetic() -> None:
    total = ResourceAmounts.model_validate({"CPU": "4", "Memory": "8Gi", "Disk": "100gb", "GPU": 2})
    need = ResourceAmounts(cpu=1.5, memory=3 << 30, gpu=1)
    free = total - need
    assert free.cpu == pytest.approx(2.5) and free.memory == 5 << 30 and free.gpu == 1
    assert free + need == total
    assert (need - total).is_zero()  # floored at zero
    assert total.fits(need)
    assert ResourceAmounts(cpu=1, memory=1 << 30).shortfall(need) == [
        "cpu: needs 1500m, 1 free",
        "memory: needs 3GiB, 1GiB free",
        "gpu: needs 1, 0 free",
    ]
    assert str(need) == "cpu=1500m memory=3GiB gpu=1"
    with pytest.raises(ValidationError):
        ResourceAmounts(cpu=-1)
    with pytest.raises(ValidationError):
        ResourceAmounts.model_validate({"Memory": "lots"})


def test_formatting() -> None:
    assert (
        format_size(1 << 30) == "1GiB" and format_size(1536) == "1.5KiB" and format_size(5) == "5B"
    )
    assert format_cpu(0.5) == "500m" and format_cpu(2.0) == "2"
