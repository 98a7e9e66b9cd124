"""Job store under threads: no lost writes, compare-and-swap has one winner, readers never fail."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from js_helpers import make_job

from bacalao.errors import Conflict
from bacalao.jobstore import SQLiteJobStore
from bacalao.models import Execution, ExecutionStateType, JobStateType

J = JobStateType


def test_threads_writing_lose_nothing(store: SQLiteJobStore) -> None:
    def worker(t: int) -> None:
        for i in range(15):
            job_id = f"j-{t}-{i}"
            store.create_job(make_job(job_id))
            store.create_execution(Execution(id=f"e-{t}-{i}", job_id=job_id))
            store.update_job_state(job_id, J.RUNNING, "placed")
            store.update_execution(f"e-{t}-{i}", new_state=ExecutionStateType.BID_ACCEPTED)

    stop = threading.Event()
    reads: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            reads.append(len(store.list_jobs(limit=1000)))
            store.events(None, limit=50)

    r = threading.Thread(target=reader)
    r.start()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))
    stop.set()
    r.join()
    jobs = store.list_jobs(limit=1000)
    assert len(jobs) == 90 and all(j.state_type is J.RUNNING for j in jobs)
    assert len(store.list_executions(states=ExecutionStateType.BID_ACCEPTED)) == 90
    seqs = [e.seq for e in store.events(None)]
    assert len(seqs) == 90 * 4 and seqs == sorted(set(seqs))
    assert reads and reads == sorted(reads)  # a reader sees the count only grow


def test_compare_and_swap_has_exactly_one_winner(store: SQLiteJobStore) -> None:
    for i in range(10):
        store.create_job(make_job(f"j-{i}"))
        store.update_job_state(f"j-{i}", J.RUNNING, "placed")
    barrier = threading.Barrier(4)

    def racer(target: JobStateType) -> list[str]:
        won = []
        barrier.wait()
        for i in range(10):
            try:
                store.update_job_state(f"j-{i}", target, target.value, expected_state=J.RUNNING)
                won.append(f"j-{i}")
            except Conflict:
                pass
        return won

    targets = [J.COMPLETED, J.FAILED, J.STOPPED, J.QUEUED]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(racer, targets))
    winners = [job_id for won in results for job_id in won]
    assert sorted(winners) == sorted(f"j-{i}" for i in range(10))  # each job won exactly once
    for i in range(10):
        assert len(store.events(f"j-{i}")) == 3


def test_two_stores_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with SQLiteJobStore(path) as a, SQLiteJobStore(path) as b:

        def write(store: SQLiteJobStore, prefix: str) -> None:
            for i in range(20):
                store.create_job(make_job(f"j-{prefix}{i}"))

        threads = [threading.Thread(target=write, args=(s, p)) for s, p in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(a.list_jobs(limit=100)) == len(b.list_jobs(limit=100)) == 40
