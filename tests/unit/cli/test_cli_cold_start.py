"""``bacalao job list`` starts light: what it imports is guarded here (its time is in
``bench/latency.py``'s ``coldstart``).

Each check runs the command in a fresh interpreter and lists the heavy modules it loaded: the
server side, pydantic, Rich and YAML (a table to a pipe is laid out by hand), httpx and its stack
(plain requests go over the stdlib), and the other command groups' modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HEAVY = (
    "bacalao.api",
    "bacalao.node",
    "bacalao.models",
    "bacalao.orchestrator",
    "bacalao.compute",
    "bacalao.cli.serve",
    "bacalao.cli.data",
    "bacalao.cli.docker",
    "bacalao.cli.submit",
    "bacalao.cli.wasm",
    "fastapi",
    "uvicorn",
    "pydantic",
    "rich",
    "yaml",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "ssl",
    "email",
)

JOB = {
    "ID": "j-0123456789abcdef",
    "Name": "nightly",
    "Type": "batch",
    "CreateTime": 1719930421000000000,
    "State": {"StateType": "Completed"},
}

RUN = """
import json, sys
from bacalao.cli import main
sys.argv = ["bacalao", *json.loads(sys.argv[1])]
try:
    main.run()
    code = 0
except SystemExit as e:
    code = e.code
loaded = [m for m, module in sys.modules.items() if module is not None]  # None: blocked
heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


class _Jobs(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"Items": [JOB], "NextToken": ""}).encode()
        self.send_response(200 if self.path.startswith("/api/v1/orchestrator/jobs") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jobs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_cli(*args: str) -> tuple[str, str, dict]:
    """Run ``bacalao ARGS`` in a fresh interpreter: (stdout, stderr, {code, heavy})."""
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{RUN}", json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    *messages, report = done.stderr.strip().splitlines()
    return done.stdout, "\n".join(messages), json.loads(report)


def test_job_list_imports_nothing_heavy(api: str) -> None:
    out, err, report = run_cli("job", "list", "--api", api)
    assert report["code"] in (0, None), err
    assert out.split("\n")[0].split() == ["CREATED", "ID", "NAME", "TYPE", "STATE"]
    assert "j-01234567" in out and "nightly" in out and "Completed" in out
    assert report["heavy"] == []


def test_job_list_json_imports_nothing_heavy(api: str) -> None:
    out, err, report = run_cli("job", "list", "--api", api, "--output", "json")
    assert json.loads(out) == [JOB], err
    assert report["heavy"] == []


def test_an_unreachable_api_is_reported_without_httpx() -> None:
    out, err, report = run_cli("job", "list", "--api", "http://127.0.0.1:9")
    assert report["code"] == 1 and out == ""
    assert err.startswith("Error: cannot reach the bacalao API at http://127.0.0.1:9")
    assert report["heavy"] == []


def test_the_guard_sees_what_a_full_build_imports() -> None:
    """``job`` with no command builds the whole group (submit and docker's flags included)."""
    _, _, report = run_cli("job", "--help")
    assert "bacalao.cli.submit" in report["heavy"] and "bacalao.cli.docker" in report["heavy"]
