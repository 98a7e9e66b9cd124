"""``--output table`` off a terminal: laid out without Rich, data printed literally."""

from __future__ import annotations

import io
import subprocess
import sys

from bacalao.cli.output import render


def table(rows, columns=None) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    render(rows, columns=columns, out=out)
    return out.getvalue()


def test_columns_are_aligned_two_spaces_apart_without_trailing_blanks() -> None:
    rows = [{"id": "j-1", "state": "Completed", "n": 3}, {"id": "j-22222", "state": "", "n": None}]
    assert table(rows, ["id", "state", "n"]) == (
        "ID       STATE      N\nj-1      Completed  3\nj-22222\n"
    )


def test_cells_are_literal_not_rich_markup_or_emoji_codes() -> None:
    rows = [{"name": "[bold]x[/bold]", "label": "a:x:b :smile:"}]
    assert table(rows) == "NAME            LABEL\n[bold]x[/bold]  a:x:b :smile:\n"


def test_multi_line_cells_stay_in_their_column_and_empty_listing_has_a_header() -> None:
    assert table([{"a": "1\n22", "b": "x"}]) == "A   B\n1   x\n22\n"
    assert table([], ["id", "state"]) == "ID  STATE\n"


def test_plain_table_does_not_import_rich() -> None:
    code = (
        "import io, sys; from bacalao.cli.output import render; "
        "render([{'a': 'b'}], out=io.StringIO()); assert 'rich.console' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
