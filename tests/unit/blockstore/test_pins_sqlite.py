"""The pin stores: semantics (SQLite and memory alike), and what SQLite adds — one file shared by
threads and processes, atomic batches, a cost per pin that does not grow with the pins, a
one-line error for a bad file."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bacalao.blockstore.pins import (
    PARTIAL,
    RECURSIVE,
    MemoryPinStore,
    PinStore,
    SqlitePinStore,
)
from bacalao.errors import DecodeError, Unavailable
from bacalao.ipld.cid import CID, RAW

SRC = Path(__file__).resolve().parents[3] / "src"


def _cids(n: int, salt: str = "") -> list[CID]:
    return [CID.hash(f"{salt}{i}".encode(), codec=RAW) for i in range(n)]


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PinStore:
    if request.param == "memory":
        return MemoryPinStore()
    return SqlitePinStore(tmp_path / "pins.db")


# -- semantics, both stores ---------------------------------------------------------------------


def test_recursive_wins_over_partial_and_keeps_its_place(store: PinStore) -> None:
    a, b = _cids(2)
    assert store.add(a, PARTIAL) is True
    assert store.add(a, PARTIAL) is False
    assert store.add(b) is True
    assert store.list(PARTIAL) == [a] and store.list(RECURSIVE) == [b]
    assert store.add(a) is True  # upgraded
    assert store.add(a, PARTIAL) is False  # never downgraded
    assert store.add(a) is False
    assert store.list() == [a, b] == store.list(RECURSIVE)  # first-pinned order
    assert store.list(PARTIAL) == []


def test_order_is_first_pinned_and_remove_forgets(store: PinStore) -> None:
    a, b, c, d = _cids(4)
    for cid in (a, b, c):
        store.add(cid)
    assert store.remove(b) is True
    assert store.remove(b) is False
    assert store.list() == [a, c]
    store.add(b)
    assert store.list() == [a, c, b]  # pinned again: last
    store.remove(b)
    store.add(d)
    assert store.list() == [a, c, d]


def test_add_many_merges_like_add(store: PinStore) -> None:
    a, b, c = _cids(3)
    store.add(a, PARTIAL)
    store.add_many([b, a, c, b], RECURSIVE)
    assert store.list() == [a, b, c] == store.list(RECURSIVE)
    store.add_many([c], PARTIAL)
    assert store.list(PARTIAL) == []
    store.add_many([])
    assert store.list() == [a, b, c]


def test_pins_are_keyed_by_the_cid_string_as_given(store: PinStore) -> None:
    v0 = CID.decode("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    v1 = v0.to_v1()
    assert store.add(v0) is True
    assert store.add(v1) is True  # the same blocks, another pin
    assert store.list() == [v0, v1]
    assert store.remove(v0) is True
    assert store.list() == [v1]


def test_unknown_kind_is_refused(store: PinStore) -> None:
    (a,) = _cids(1)
    with pytest.raises(ValueError, match="unknown pin kind"):
        store.add(a, "direct")
    with pytest.raises(ValueError, match="unknown pin kind"):
        store.add_many([a], "direct")
    assert store.list() == []


# -- SQLite: durability, atomicity, cost --------------------------------------------------------


def test_pins_persist_across_stores(tmp_path: Path) -> None:
    a, b = _cids(2)
    first = SqlitePinStore(tmp_path / "pins.db")
    first.add(a, PARTIAL)
    first.add(b)
    second = SqlitePinStore(tmp_path / "pins.db")
    assert second.list() == [a, b] and second.list(PARTIAL) == [a]
    second.remove(a)
    assert first.list() == [b]  # another connection's write is seen, not a stale view


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no string for you")


def test_add_many_is_one_transaction(tmp_path: Path) -> None:
    store = SqlitePinStore(tmp_path / "pins.db")
    (old,) = _cids(1, "old")
    store.add(old)
    batch: list = [*_cids(5), _Unprintable(), *_cids(5, "x")]
    with pytest.raises(RuntimeError):
        store.add_many(batch)
    assert store.list() == [old]
    assert SqlitePinStore(tmp_path / "pins.db").list() == [old]  # nothing reached the file


def _vm_steps(store: SqlitePinStore, action: Callable[[SqlitePinStore], object]) -> int:
    """SQLite virtual-machine instructions that ``action(store)`` runs: work, not time."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with store._lock:
        conn = store._connection()
    conn.set_progress_handler(count, 1)
    try:
        action(store)
    finally:
        conn.set_progress_handler(None, 1)
    return steps


def test_a_pin_costs_the_same_with_ten_or_five_thousand_pins(tmp_path: Path) -> None:
    small = SqlitePinStore(tmp_path / "small.db")
    small.add_many(_cids(10))
    big = SqlitePinStore(tmp_path / "big.db")
    big.add_many(_cids(5000))
    # The counter does see per-row work: reading every pin back grows with the pins...
    read_all = SqlitePinStore.list
    assert _vm_steps(big, read_all) > 100 * _vm_steps(small, read_all)
    # ...while pinning, re-pinning, upgrading and unpinning one root do not.
    new, partial = _cids(2, "new")
    for action in (
        lambda s: s.add(new),
        lambda s: s.add(new),
        lambda s: s.add(partial, PARTIAL),
        lambda s: s.add(partial),
        lambda s: s.add_many([CID.hash(b"m1", codec=RAW), CID.hash(b"m2", codec=RAW)]),
        lambda s: s.remove(new),
    ):
        assert _vm_steps(big, action) == _vm_steps(small, action)
    inode = (tmp_path / "big.db").stat().st_ino
    big.add(CID.hash(b"one more", codec=RAW))
    assert (tmp_path / "big.db").stat().st_ino == inode  # updated in place, never rewritten


def test_list_answers_from_memory_until_a_write(tmp_path: Path) -> None:
    store = SqlitePinStore(tmp_path / "pins.db")
    store.add_many(_cids(50))
    store.list()
    statements: list[str] = []
    with store._lock:
        store._connection().set_trace_callback(statements.append)
    assert len(store.list(RECURSIVE)) == 50
    assert statements == ["PRAGMA data_version"]  # no rows read, no CIDs decoded again
    SqlitePinStore(tmp_path / "pins.db").add(CID.hash(b"from elsewhere", codec=RAW))
    assert len(store.list()) == 51


# -- SQLite: bad files --------------------------------------------------------------------------


def _one_line(e: pytest.ExceptionInfo) -> None:
    assert "\n" not in e.value.message and e.value.hint
    assert "pins.db" in e.value.message


def test_corrupt_database_is_a_decode_error(tmp_path: Path) -> None:
    (tmp_path / "pins.db").write_bytes(b"\0garbage" * 512)
    with pytest.raises(DecodeError) as e:
        SqlitePinStore(tmp_path / "pins.db").list()
    _one_line(e)


def test_a_database_damaged_inside_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "pins.db"
    SqlitePinStore(path).add_many(_cids(3000))
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(path.read_bytes())
    raw[4096 * 2 : 4096 * 6] = b"\xff" * (4096 * 4)  # pages of the table, past the header
    path.write_bytes(bytes(raw))
    with pytest.raises(DecodeError) as e:
        SqlitePinStore(path).list()
    _one_line(e)


def test_someone_elses_database_is_refused(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "pins.db")) as db:
        db.execute("CREATE TABLE t (x)")
        db.commit()
    with pytest.raises(DecodeError) as e:
        SqlitePinStore(tmp_path / "pins.db").add(_cids(1)[0])
    _one_line(e)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    SqlitePinStore(tmp_path / "pins.db").add(_cids(1)[0])
    with contextlib.closing(sqlite3.connect(tmp_path / "pins.db")) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(DecodeError, match="schema version 99") as e:
        SqlitePinStore(tmp_path / "pins.db").list()
    _one_line(e)


def test_a_writer_holding_the_lock_too_long_is_unavailable(tmp_path: Path) -> None:
    store = SqlitePinStore(tmp_path / "pins.db", busy_timeout_s=0.05)
    store.add(_cids(1)[0])
    with contextlib.closing(sqlite3.connect(tmp_path / "pins.db", isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable) as e:
            store.add(_cids(2)[1])
        _one_line(e)
        assert store.list() == _cids(1)  # readers are not blocked by a writer (WAL)
        db.execute("ROLLBACK")
    assert store.add(_cids(2)[1]) is True


# -- migration from pins.json -------------------------------------------------------------------


def _legacy(path: Path, pins: list[tuple[CID, str]]) -> None:
    doc = {"version": 1, "pins": [{"cid": str(c), "type": k} for c, k in pins]}
    path.write_text(json.dumps(doc, indent=1) + "\n")


def test_legacy_pins_are_merged_in_order(tmp_path: Path) -> None:
    a, b, c = _cids(3)
    _legacy(tmp_path / "pins.json", [(a, RECURSIVE), (b, PARTIAL), (c, RECURSIVE)])
    store = SqlitePinStore(tmp_path / "pins.db", legacy_json=tmp_path / "pins.json")
    assert store.list() == [a, b, c] and store.list(PARTIAL) == [b]
    assert not (tmp_path / "pins.json").exists()
    migrated = json.loads((tmp_path / "pins.json.migrated").read_text())
    assert [p["cid"] for p in migrated["pins"]] == [str(a), str(b), str(c)]


def test_a_legacy_file_with_an_unknown_pin_type_is_corrupt(tmp_path: Path) -> None:
    (a,) = _cids(1)
    _legacy(tmp_path / "pins.json", [(a, "direct")])
    store = SqlitePinStore(tmp_path / "pins.db", legacy_json=tmp_path / "pins.json")
    with pytest.raises(DecodeError, match="pins.json"):
        store.list()
    assert (tmp_path / "pins.json").exists()


def test_a_legacy_file_found_after_migration_is_merged_not_lost(tmp_path: Path) -> None:
    """Say a crash came between the commit and the rename, or an older bacalao ran here."""
    a, b = _cids(2)
    store = SqlitePinStore(tmp_path / "pins.db", legacy_json=tmp_path / "pins.json")
    store.add(a)
    _legacy(tmp_path / "pins.json", [(a, RECURSIVE), (b, PARTIAL)])
    again = SqlitePinStore(tmp_path / "pins.db", legacy_json=tmp_path / "pins.json")
    assert again.list() == [a, b] and again.list(PARTIAL) == [b]
    assert not (tmp_path / "pins.json").exists()


# -- concurrency --------------------------------------------------------------------------------


def test_threads_share_one_store(tmp_path: Path) -> None:
    store = SqlitePinStore(tmp_path / "pins.db")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def pinner(k: int) -> None:
        try:
            barrier.wait()
            for i, cid in enumerate(_cids(40, f"t{k}-")):
                if i % 10 == 0:
                    store.add_many([cid, *_cids(2, f"t{k}-{i}-")], PARTIAL)
                store.add(cid)
                store.list(RECURSIVE)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=pinner, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list(RECURSIVE)) == 8 * 40
    assert len(store.list(PARTIAL)) == 8 * 4 * 2
    assert len(SqlitePinStore(tmp_path / "pins.db").list()) == 8 * 40 + 8 * 4 * 2


PINNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from bacalao.blockstore.pins import PARTIAL, SqlitePinStore
    from bacalao.ipld.cid import CID, RAW
    data = Path(sys.argv[2])
    store = SqlitePinStore(data / "pins.db", legacy_json=data / "pins.json")
    salt = sys.argv[3]
    cids = [CID.hash(f"{salt}{i}".encode(), codec=RAW) for i in range(300)]
    for cid in cids[:150]:
        store.add(cid)
    for i in range(150, 300, 10):
        store.add_many(cids[i : i + 10], PARTIAL)
    store.add_many(cids[150:160])
    print(len(store.list()))
    """
)


def test_two_processes_pinning_at_once_lose_nothing(tmp_path: Path) -> None:
    """Both start on a data dir with only a legacy pins.json: it is imported exactly once."""
    legacy = _cids(20, "legacy")
    _legacy(tmp_path / "pins.json", [(c, RECURSIVE) for c in legacy])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PINNER, str(SRC), str(tmp_path), salt],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for salt in ("p", "q")
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    store = SqlitePinStore(tmp_path / "pins.db", legacy_json=tmp_path / "pins.json")
    pins = store.list()
    assert len(pins) == len(set(map(str, pins))) == 20 + 2 * 300
    assert pins[:20] == legacy  # imported before either process pinned anything
    assert len(store.list(PARTIAL)) == 2 * 140
    assert not (tmp_path / "pins.json").exists()
