"""Submitting a job and waiting for it with a live status line: shared by ``docker run`` and
``job run`` (and later ``job submit``).

The status comes from the API's long-poll (``/jobs/{id}/wait``), so a change — completion
included — shows within milliseconds, not at the next tick of a poll interval. On a terminal the
line is a Rich spinner on stderr that rewrites itself; elsewhere (pipes, CI logs) a plain line is
printed whenever the status text changes. stdout gets only data: the job ID (``--id-only``,
``--no-wait``), or the result CIDs then the single execution's stdout.

Exit status: 0 when the job completed; 1 when it failed or was stopped (with the job's message
and a hint), or when ``--wait-timeout`` passed (the job keeps running).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import typer

from bacalao.cli.output import note
from bacalao.errors import BacalaoError

if TYPE_CHECKING:
    from bacalao.client import Client, WaitResult
    from bacalao.models import Job

DEFAULT_WAIT_TIMEOUT_S = 600.0
# Bacalhau's integer execution states -> bacalao's names (as ExecutionStateType.from_bacalhau_code
# maps them; a test keeps the two equal), so the status line needs no model import.
EXEC_STATES = {
    1: "New",
    2: "AskForBid",
    3: "AskForBid",
    4: "Cancelled",
    5: "Running",
    6: "Cancelled",
    7: "Completed",
    8: "Failed",
    9: "Cancelled",
}


class JobFailed(BacalaoError):
    """The job ended Failed or Stopped."""

    code = "job_failed"
    http_status = 500


def execution_state(execution: dict[str, Any]) -> str:
    """An execution's state name from its wire dict (integer or string)."""
    state = (execution.get("ComputeState") or {}).get("StateType")
    if isinstance(state, int):
        return EXEC_STATES.get(state, str(state))
    return str(state or "")


def short(identifier: str, length: int = 10) -> str:
    """``j-1234abcd`` from a full ID (IDs shorter than that stay whole)."""
    return identifier[:length]


def status_text(update: WaitResult) -> str:
    """``j-1234abcd Running · n-alpha Running · n-beta Failed`` from a wait answer."""
    job = update.raw_job
    parts = [f"{short(str(job.get('ID', '')))} {update.state}"]
    for execution in update.raw_executions:
        node = str(execution.get("NodeID") or "?")
        parts.append(f"{short(node)} {execution_state(execution)}")
    message = (job.get("State") or {}).get("Message")
    if message and message != update.state and not update.is_terminal:
        parts.append(str(message))
    return " · ".join(parts)


class StatusLine:
    """The live status on stderr: a Rich spinner on a terminal, plain lines otherwise."""

    def __init__(self, *, live: bool | None = None) -> None:
        self.live = sys.stderr.isatty() if live is None else live
        self.started = time.monotonic()
        self._text = ""
        self._display: Any = None

    def __enter__(self) -> StatusLine:
        if self.live:
            from rich.live import Live

            from bacalao.cli.output import stderr_console

            self._display = Live(
                self, console=stderr_console(), refresh_per_second=12, transient=True
            )
            self._display.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._display is not None:
            self._display.__exit__(None, None, None)
            self._display = None

    def __rich__(self) -> Any:
        from rich.spinner import Spinner

        spinner = getattr(self, "_spinner", None) or Spinner("dots")
        self._spinner = spinner
        spinner.text = f"{self._text}  [dim]{self.elapsed:.1f}s[/dim]"
        return spinner

    @property
    def elapsed(self) -> float:
        """Seconds since the wait began."""
        return time.monotonic() - self.started

    def update(self, text: str) -> None:
        """Show ``text`` (plain mode prints it only when it changed)."""
        if text == self._text:
            return
        self._text = text
        if not self.live:
            note(text)


def follow(client: Client, job_id: str, *, timeout: float | None) -> WaitResult:
    """Wait for the job to end, showing its status; Ctrl-C leaves it running."""
    with StatusLine() as line:
        try:
            final = client.wait_for(
                job_id, timeout=timeout, on_update=lambda w: line.update(status_text(w))
            )
        except KeyboardInterrupt:
            line.__exit__()
            note(f"Stopped waiting; job {job_id} keeps running (bacalao job stop {job_id})")
            raise typer.Exit(130) from None
        elapsed = line.elapsed
    note(f"Job {short(job_id)} {final.state.lower()} in {elapsed:.2f}s")
    return final


def split_hint(message: str) -> tuple[str, str]:
    """``"no node fits (hint: add nodes)"`` -> ``("no node fits", "add nodes")``."""
    head, sep, tail = message.rpartition(" (hint: ")
    if sep and tail.endswith(")"):
        return head, tail[:-1]
    return message, ""


def failure_details(client: Client, job_id: str) -> tuple[list[str], str]:
    """Per-node reasons (execution errors, node rejections) and the best hint in the history."""
    description = client.describe_job(job_id)
    hint = ""
    reasons: list[str] = []
    history = (description.raw.get("History") or {}).get("Items") or []
    for entry in history:
        event = entry.get("Event") or {}
        details = event.get("Details") or {}
        if details.get("Hint"):
            hint = str(details["Hint"])
        if entry.get("NodeID") and not entry.get("ExecutionID") and details.get("IsError"):
            reasons.append(f"  {entry['NodeID']}: {event.get('Message', '')}")
    for execution in (description.raw.get("Executions") or {}).get("Items") or []:
        output = execution.get("RunOutput") or {}
        why = output.get("ErrorMsg") or (execution.get("ComputeState") or {}).get("Message")
        if why:
            reasons.append(f"  {execution.get('NodeID', '?')}: {why}")
    return list(dict.fromkeys(reasons)), hint


def report(client: Client, final: WaitResult) -> None:
    """Print a finished job's outcome: result CIDs and stdout, or raise :class:`JobFailed`."""
    job = final.raw_job
    job_id = str(job.get("ID", ""))
    executions = final.raw_executions
    if final.state == "Completed":
        for result in client.results(job_id).raw:
            params = result.get("Params") or {}
            cid = next((v for k, v in params.items() if k.lower() == "cid"), None)
            print(cid if cid else f"{result.get('Type')}: {params}", flush=True)
        if len(executions) == 1:
            output = executions[0].get("RunOutput") or {}
            sys.stdout.write(str(output.get("Stdout") or ""))
            sys.stdout.flush()
            if output.get("StdoutTruncated"):
                note(f"(stdout truncated; the whole of it is in the result: bacalao get {job_id})")
        return
    for execution in executions[-1:]:
        stderr = str((execution.get("RunOutput") or {}).get("stderr") or "")
        if stderr:
            sys.stderr.write(stderr if stderr.endswith("\n") else stderr + "\n")
    reasons, hint = failure_details(client, job_id)
    if reasons:
        note("\n".join(reasons))
    message, inline_hint = split_hint(str((job.get("State") or {}).get("Message") or ""))
    raise JobFailed(
        f"job {job_id} {final.state.lower()}: {message or 'no reason given'}",
        hint=inline_hint or hint or f"see `bacalao job describe {job_id}`",
    )


def submit_and_follow(
    client: Client,
    job: Job,
    *,
    wait: bool = True,
    id_only: bool = False,
    wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
) -> None:
    """Submit ``job``; unless ``id_only``/not ``wait``, follow it to the end and report."""
    submitted = client.submit(job)
    for warning in submitted.warnings:
        note(f"Warning: {warning}")
    if id_only or not wait:
        print(submitted.job_id, flush=True)
        if not id_only:
            note(f"Follow it with: bacalao job describe {submitted.job_id}")
        return
    note(f"Job {submitted.job_id} submitted")
    final = follow(client, submitted.job_id, timeout=wait_timeout)
    report(client, final)
