"""``bacalao job …``: run a spec, list, describe, follow logs, stop, executions, history.

Every command talks to the API named by ``--api`` or ``$BACALAO_API``. Listings print a table, or
the API's own JSON/YAML (Bacalhau's shapes) with ``--output json|yaml``. Nothing heavy is
imported before a command runs: ``job list`` never loads pydantic (it prints the wire dicts).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bacalao.cli._api import Api, connect
from bacalao.cli.output import OutputFormat, note, render
from bacalao.cli.wait import DEFAULT_WAIT_TIMEOUT_S, short, submit_and_follow

if TYPE_CHECKING:
    from bacalao.models import Execution, Job, JobHistory

app = typer.Typer(
    help="Submit, inspect and stop jobs.", no_args_is_help=True, pretty_exceptions_enable=False
)

Output = Annotated[OutputFormat, typer.Option("--output", help="How to print it.")]
JobId = Annotated[str, typer.Argument(help="Job ID (or a unique prefix of it).")]
Wide = Annotated[bool, typer.Option("--wide", help="Full IDs instead of short ones.")]
Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the job to finish, showing its status.")
]
IdOnly = Annotated[bool, typer.Option("--id-only", help="Print only the job ID; do not wait.")]
WaitTimeout = Annotated[
    float,
    typer.Option("--wait-timeout", help="Stop waiting after this many seconds (the job goes on)."),
]


def fmt_time(ns: Any) -> str:
    """Unix nanoseconds (or RFC 3339 text) as local ``YYYY-MM-DD HH:MM:SS``."""
    if isinstance(ns, str):
        from bacalao.client._wire import rfc3339_to_ns

        ns = rfc3339_to_ns(ns)
    if not ns:
        return ""
    return datetime.fromtimestamp(int(ns) / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%H:%M:%S.%f")[:-3] if ns else ""


# -- run ------------------------------------------------------------------------------------------
@app.command("run")
def run_spec(
    spec: Annotated[
        str, typer.Argument(help="A Bacalhau job spec (YAML or JSON), or - for stdin.")
    ],
    wait: Wait = True,
    id_only: IdOnly = False,
    wait_timeout: WaitTimeout = DEFAULT_WAIT_TIMEOUT_S,
    api: Api = None,
) -> None:
    """Submit a job spec and wait for it: exit 0 when it completes, 1 when it fails."""
    from bacalao.models import load_job_file, parse_job_text

    if spec == "-":
        job = parse_job_text(sys.stdin.buffer.read(), reject_system_fields=True)
    else:
        job = load_job_file(Path(spec).expanduser(), reject_system_fields=True)
    with connect(api) as client:
        submit_and_follow(client, job, wait=wait, id_only=id_only, wait_timeout=wait_timeout)


# -- list -----------------------------------------------------------------------------------------
@app.command("list")
def list_jobs(
    output: Output = OutputFormat.table,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many jobs.")] = 10,
    next_token: Annotated[str, typer.Option("--next-token", help="Continue a listing.")] = "",
    order_by: Annotated[
        str, typer.Option("--order-by", help="created_at or modified_at.")
    ] = "created_at",
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest first (default: newest first).")
    ] = False,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Only jobs with label key=value.")
    ] = None,
    wide: Wide = False,
    api: Api = None,
) -> None:
    """List jobs, newest first."""
    labels = dict(_key_value(item, "--label") for item in label or [])
    with connect(api) as client:
        page = client.list_jobs(
            limit=limit,
            next_token=next_token,
            order_by=order_by,
            reverse=not oldest_first,
            labels=labels,
        )
    if output is not OutputFormat.table:
        render(page.raw, output)
    else:
        rows = [
            {
                "created": fmt_time(j.get("CreateTime")),
                "id": j.get("ID", "") if wide else short(str(j.get("ID", ""))),
                "name": "" if j.get("Name") == j.get("ID") else j.get("Name", ""),
                "type": j.get("Type", ""),
                "state": (j.get("State") or {}).get("StateType", ""),
            }
            for j in page.raw
        ]
        render(rows, output, columns=["created", "id", "name", "type", "state"])
    if page.next_token:
        note(f"More jobs: --next-token {page.next_token}")


def _key_value(text: str, flag: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    if not key.strip():
        from bacalao.errors import InvalidInput

        raise InvalidInput(f"{flag} {text!r}: expected key=value", hint=f"e.g. {flag} team=ml")
    return key.strip(), value.strip()


# -- describe -------------------------------------------------------------------------------------
def engine_summary(job: Job) -> str:
    """``docker ubuntu:latest echo hi`` / ``shell: echo hi``."""
    engine = job.task.engine
    image = engine.get("Image") or engine.get("Command") or ""
    args = [*(engine.get("Entrypoint") or []), *(engine.get("Parameters") or [])]
    return " ".join(str(p) for p in [engine.type, image, *args] if p)


def execution_rows(executions: list[Execution], wide: bool = False) -> list[dict[str, Any]]:
    """Table rows for executions."""
    rows = []
    for e in executions:
        result = e.result_cid or (e.published_result.get("CID") if e.published_result else "")
        exit_code = e.run_output.exit_code if e.run_output is not None else -1
        rows.append(
            {
                "id": e.id if wide else short(e.id),
                "node": e.node_id if wide else short(e.node_id),
                "state": e.state.value,
                "desired": e.desired_state.state_type.value,
                "exit": exit_code if exit_code >= 0 else "",
                "fetched": e.metering.bytes_fetched,
                "result": result or "",
                "message": e.error_message,
            }
        )
    return rows


def history_rows(history: list[JobHistory], wide: bool = False) -> list[dict[str, Any]]:
    """Table rows for history entries."""
    return [
        {
            "time": _clock(h.time),
            "level": "job" if h.type.value == "JobLevel" else "execution",
            "execution": h.execution_id if wide else short(h.execution_id),
            "node": h.node_id if wide else short(h.node_id),
            "topic": h.event.topic,
            "event": h.describe(),
        }
        for h in history
    ]


EXECUTION_COLUMNS = ["id", "node", "state", "desired", "exit", "fetched", "result", "message"]
HISTORY_COLUMNS = ["time", "level", "execution", "node", "topic", "event"]


@app.command("describe")
def describe(
    job_id: JobId, output: Output = OutputFormat.table, wide: Wide = False, api: Api = None
) -> None:
    """A job: its spec, state, executions (node, state, exit code, result CID, message) and
    history, including each node's placement or rejection reason."""
    with connect(api) as client:
        description = client.describe_job(job_id)
    if output is not OutputFormat.table:
        render(description.raw, output)
        return
    job = description.job
    task = job.task
    state = job.state.state_type.value + (f": {job.state.message}" if job.state.message else "")
    fields = {
        "ID": job.id,
        "Name": job.name if job.name != job.id else "",
        "Namespace": job.namespace,
        "Type": job.type.value,
        "State": state,
        "Created": fmt_time(job.create_time),
        "Modified": fmt_time(job.modify_time),
        "Engine": engine_summary(job),
        "Inputs": ", ".join(
            f"{s.type} {s.cid or next(iter(s.source.params.values()), '')} -> {s.target}"
            for s in task.input_sources
        ),
        "Resources": " ".join(f"{k}={v}" for k, v in task.resources.to_wire().items()),
        "Network": task.network.type.value,
        "Publisher": task.publisher.type or "none",
        "Labels": ", ".join(f"{k}={v}" for k, v in job.labels.items()),
        "Constraints": ", ".join(
            f"{c.key} {c.operator.value} {','.join(c.values)}".strip() for c in job.constraints
        ),
    }
    if description.executions:
        read = sum(e.metering.bytes_read for e in description.executions)
        fetched = sum(e.metering.bytes_fetched for e in description.executions)
        fields["Bytes fetched"] = f"{fetched} from peers ({read} bytes of input)"
    width = max(map(len, fields))
    for key, value in fields.items():
        if value != "":
            print(f"{key + ':':<{width + 2}}{value}")
    print("\nExecutions:")
    if description.executions:
        render(execution_rows(description.executions, wide), columns=EXECUTION_COLUMNS)
    else:
        print("  none yet")
    print("\nEvents:")
    render(history_rows(description.history, wide), columns=HISTORY_COLUMNS)


# -- logs, stop -----------------------------------------------------------------------------------
@app.command("logs")
def logs(
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming until it ends.")
    ] = False,
    execution_id: Annotated[
        str, typer.Option("--execution-id", "-e", help="Which execution (default: the latest).")
    ] = "",
    api: Api = None,
) -> None:
    """Print a job's stdout (to stdout) and stderr (to stderr); ``-f`` follows it live."""
    with connect(api) as client:
        try:
            for line in client.logs(job_id, execution_id=execution_id, follow=follow):
                stream = sys.stdout if line.stream == "stdout" else sys.stderr
                stream.write(line.text)
                stream.flush()
        except BrokenPipeError:
            # The reader went away (`… | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None


@app.command("stop")
def stop(
    job_id: JobId,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the history).")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
    api: Api = None,
) -> None:
    """Stop a job: pending work is dropped, running containers are killed."""
    with connect(api) as client:
        evaluation = client.stop_job(job_id, reason)
    if not quiet:
        note(f"Job {job_id} stopped" if evaluation else f"Job {job_id} was already stopped")


# -- executions, history --------------------------------------------------------------------------
@app.command("executions")
def executions(
    job_id: JobId, output: Output = OutputFormat.table, wide: Wide = False, api: Api = None
) -> None:
    """A job's executions: node, state, exit code, result CID and why it failed."""
    with connect(api) as client:
        page = client.executions(job_id)
    if output is not OutputFormat.table:
        render(page.raw, output)
        return
    render(execution_rows(page.items, wide), columns=EXECUTION_COLUMNS)


@app.command("history")
def history(
    job_id: JobId,
    output: Output = OutputFormat.table,
    event_type: Annotated[str, typer.Option("--event-type", help="all, job or execution.")] = "all",
    execution_id: Annotated[str, typer.Option("--execution-id", help="Only this execution.")] = "",
    node_id: Annotated[str, typer.Option("--node-id", help="Only this node.")] = "",
    wide: Wide = False,
    api: Api = None,
) -> None:
    """A job's history: every state change and event, oldest first."""
    with connect(api) as client:
        page = client.history(
            job_id, event_type=event_type, execution_id=execution_id, node_id=node_id
        )
    if output is not OutputFormat.table:
        render(page.raw, output)
        return
    render(history_rows(page.items, wide), columns=HISTORY_COLUMNS)
