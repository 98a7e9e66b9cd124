"""Shared CLI output: ``--output table|json|yaml`` rendering and Rich progress on stderr.

Data goes to stdout, everything for humans (progress, notes) to stderr, so ``$(bacalao …)`` and
pipes get only data. Rich and PyYAML are imported only when something is rendered: the CLI's cold
start matters.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum, StrEnum
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

#: Inputs smaller than this finish before a progress bar is worth drawing.
PROGRESS_THRESHOLD = 16 * 1024 * 1024


class OutputFormat(StrEnum):
    """The values of ``--output``."""

    table = "table"
    json = "json"
    yaml = "yaml"


def stderr_console() -> Console:
    """A Rich console on stderr (colour and live display only when stderr is a terminal)."""
    from rich.console import Console

    return Console(stderr=True)


def note(message: str) -> None:
    """A line for the human on stderr (never mixed into stdout's data)."""
    print(message, file=sys.stderr, flush=True)


def _plain(value: Any) -> Any:
    """Make a value JSON/YAML-safe: CIDs, paths and enums become strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def render(
    data: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    fmt: OutputFormat | str = OutputFormat.table,
    *,
    columns: Sequence[str] | None = None,
    out: IO[str] | None = None,
) -> None:
    """Print a list of records (or one record) as a table, JSON or YAML on stdout.

    ``columns`` picks and orders the table's columns (all keys by default); JSON and YAML always
    carry every key.
    """
    out = out or sys.stdout
    fmt = OutputFormat(fmt)
    plain = _plain(data)
    if fmt is OutputFormat.json:
        out.write(json.dumps(plain, indent=2, ensure_ascii=False) + "\n")
        return
    if fmt is OutputFormat.yaml:
        import yaml

        out.write(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True))
        return
    rows = [plain] if isinstance(plain, dict) else plain
    _table(rows, columns, out)


def _table(rows: list[dict[str, Any]], columns: Sequence[str] | None, out: IO[str]) -> None:
    if columns is None:
        columns = list(rows[0]) if rows else []
    cells = [["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    if not getattr(out, "isatty", lambda: False)():
        # Off a terminal: no colour, no wrapping or truncation (a pipe wants whole CIDs on one
        # line) and no trailing padding. Laid out here, as Rich would, without importing Rich
        # (~30-90 ms of `bacalao job list`'s cold start).
        out.write(_plain_table([c.upper() for c in columns], cells))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col.upper(), no_wrap=True, overflow="fold")
    for row in cells:
        table.add_row(*row)
    Console(file=out).print(table)


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns left-aligned, two spaces apart, each line right-stripped; a cell's line breaks
    continue it on the next line, within its column."""
    if not header:
        return "\n"
    split = [[cell.split("\n") for cell in row] for row in [header, *rows]]
    widths = [max(len(part) for row in split for part in row[i]) for i in range(len(header))]
    lines = []
    for row in split:
        for k in range(max(len(cell) for cell in row)):
            parts = [cell[k] if k < len(cell) else "" for cell in row]
            lines.append("  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip())
    return "".join(line + "\n" for line in lines)


def show_progress(total: int | None, *, quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to draw a progress bar: not quiet, stderr is a terminal, and the input is large."""
    if quiet or total is None or total < PROGRESS_THRESHOLD:
        return False
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, *, quiet: bool = False
) -> Iterator[Callable[[int], None] | None]:
    """Yield ``update(bytes_done_so_far)`` drawing a Rich bar on stderr, or ``None`` (no bar)."""
    if not show_progress(total, quiet=quiet):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update
