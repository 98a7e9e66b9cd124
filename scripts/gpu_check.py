"""Check GPU detection and GPU placement on a machine with NVIDIA GPUs.

Runs the real ``nvidia-smi`` detection, starts an embedded stack (noop engine) whose compute node
advertises what it found, and submits two jobs: one asking for every GPU (must complete on that
node) and one asking for one more than there are (must fail with the node's reason). Prints what
it saw; exits non-zero when anything is off. Usage: ``python scripts/gpu_check.py [DATA_DIR]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


async def main(data_dir: Path) -> int:
    from bacalao.executors.gpu import detect_gpus, gpu_labels
    from bacalao.models.parse import parse_job
    from bacalao.node.config import NodeConfig
    from bacalao.node.stack import start_stack

    gpus = detect_gpus()
    print("detected:", gpus)
    print("labels:", gpu_labels(gpus))
    if not gpus:
        print("FAIL: no GPU detected")
        return 1
    stack = await start_stack(NodeConfig(data_dir=data_dir, engines=["noop"], max_cpu=2))
    orch = stack.orchestrator
    node = orch.list_nodes()[0]
    print("node:", node.id, "GPUs:", [g.model_dump(by_alias=True) for g in node.gpus])
    print("node labels:", {k: v for k, v in node.labels.items() if k.startswith("GPU")})
    failures = 0
    for want, expect in ((len(gpus), "Completed"), (len(gpus) + 1, "Failed")):
        job = parse_job(
            {"Tasks": [{"Name": "g", "Engine": {"Type": "noop"}, "Resources": {"GPU": str(want)}}]}
        )
        res = await orch.submit_job(job)
        seq = 0
        for _ in range(100):
            if orch.get_job(res.job_id).is_terminal:
                break
            seq = await orch.wait(res.job_id, since_seq=seq, timeout=1)
        got = orch.get_job(res.job_id)
        execs = orch.list_executions(res.job_id)
        nodes = [e.node_id for e in execs]
        print(f"GPU={want}: {got.state.state_type} {got.state.message!r} on {nodes}")
        failures += got.state.state_type.value != expect
    await stack.stop()
    print("OK" if not failures else f"FAIL: {failures} unexpected outcome(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    from bacalao.node import runtime

    sys.exit(runtime.run(main(target)))
