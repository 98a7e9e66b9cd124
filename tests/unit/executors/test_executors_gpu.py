"""nvidia-smi parsing from recorded/sample outputs, and detection with a fake ``subprocess.run``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bacalao.executors.gpu import (
    GPU,
    NVIDIA_SMI_QUERY,
    NvidiaSmiParseError,
    detect_gpus,
    gpu_labels,
    parse_nvidia_smi,
)

SAMPLES = Path(__file__).parent / "nvidia_smi_samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def fake_run(stdout: str = "", stderr: str = "", returncode: int = 0, raises=None):
    calls = []

    def run(argv, **kw):
        calls.append((argv, kw))
        if raises is not None:
            raise raises
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    run.calls = calls
    return run


def test_one_h100():
    assert parse_nvidia_smi(sample("one_h100.csv")) == [
        GPU(0, "GPU-5a3b2c1d-8e7f-4a6b-9c0d-1e2f3a4b5c6d", "NVIDIA H100 80GB HBM3", 81559)
    ]


def test_recorded_h200():
    # recorded on a lent GPU machine (see nvidia_smi_samples/README.md)
    assert parse_nvidia_smi(sample("recorded_h200.csv"), strict=True) == [
        GPU(0, "GPU-567fd550-87a7-d677-3d68-aae52619d929", "NVIDIA H200", 143771)
    ]


def test_eight_a100_in_index_order():
    gpus = parse_nvidia_smi(sample("eight_a100.csv"))
    assert [g.index for g in gpus] == list(range(8))
    assert {g.model for g in gpus} == {"NVIDIA A100-SXM4-80GB"}
    assert {g.memory_mb for g in gpus} == {81920}
    assert len({g.uuid for g in gpus}) == 8


def test_names_with_spaces_and_commas_keep_every_part():
    gpus = parse_nvidia_smi(sample("names_with_commas.csv"))
    assert [g.model for g in gpus] == [
        "NVIDIA GeForce RTX 4090",
        "Tesla V100-SXM2-16GB",
        "Acme Accel, Rev B, 2 slot",
    ]
    assert gpus[2].memory_mb == 8192


def test_garbage_lines_are_skipped_and_records_sorted():
    gpus = parse_nvidia_smi(sample("with_garbage.txt"))
    assert [(g.index, g.model) for g in gpus] == [(0, "NVIDIA L4"), (1, "NVIDIA L4")]


def test_strict_mode_names_the_bad_line():
    with pytest.raises(NvidiaSmiParseError, match="line 1"):
        parse_nvidia_smi(sample("with_garbage.txt"), strict=True)


def test_memory_not_available_reads_as_zero():
    assert parse_nvidia_smi(sample("memory_na.csv"))[0].memory_mb == 0


def test_duplicate_index_is_an_error():
    line = "0, GPU-1, A, 1\n0, GPU-2, B, 2\n"
    with pytest.raises(NvidiaSmiParseError, match="twice"):
        parse_nvidia_smi(line)


@pytest.mark.parametrize("text", ["", "\n\n", "No devices were found\n"])
def test_no_records(text):
    assert parse_nvidia_smi(text) == []


def test_detect_calls_the_documented_query():
    run = fake_run(stdout=sample("one_h100.csv"))
    assert [g.model for g in detect_gpus(run=run)] == ["NVIDIA H100 80GB HBM3"]
    argv, kw = run.calls[0]
    assert argv == NVIDIA_SMI_QUERY
    assert argv[1:] == [
        "--query-gpu=index,uuid,name,memory.total",
        "--format=csv,noheader,nounits",
    ]
    assert kw["timeout"] > 0


def test_missing_binary_means_no_gpus():
    assert detect_gpus(run=fake_run(raises=FileNotFoundError("nvidia-smi"))) == []


def test_hanging_binary_means_no_gpus():
    assert detect_gpus(run=fake_run(raises=subprocess.TimeoutExpired("nvidia-smi", 15))) == []


@pytest.mark.parametrize(("name", "code"), [("driver_failed.txt", 9), ("no_devices.txt", 6)])
def test_failing_driver_means_no_gpus(name, code):
    assert detect_gpus(run=fake_run(stdout=sample(name), returncode=code)) == []


def test_unreadable_output_means_no_gpus():
    assert detect_gpus(run=fake_run(stdout="0, GPU-1, A, 1\n0, GPU-2, B, 2\n")) == []


def test_labels():
    gpus = parse_nvidia_smi(sample("eight_a100.csv"))
    assert gpu_labels(gpus) == {
        "gpu-count": "8",
        "gpu-model": "NVIDIA A100-SXM4-80GB",
        "gpu-memory-mb": "81920",
        "gpu-vendor": "nvidia",
    }
    assert gpu_labels([]) == {}


def test_recorded_on_a_real_h200() -> None:
    """Output recorded from nvidia-smi on a lent H200 machine (scripts/gpu_check.py ran there)."""
    from pathlib import Path

    from bacalao.executors.gpu import parse_nvidia_smi

    text = (Path(__file__).parent / "nvidia_smi_samples" / "h200_recorded.csv").read_text()
    (gpu,) = parse_nvidia_smi(text)
    assert (gpu.index, gpu.model, gpu.memory_mb) == (0, "NVIDIA H200", 143771)
    assert gpu.uuid.startswith("GPU-e749bde8")
