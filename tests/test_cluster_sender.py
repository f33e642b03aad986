"""The cluster store's background bulk lane (``store.cluster.sender``), without a node.

Jobs are sent in the order given, one at a time; a caller that gets ``depth`` jobs
ahead waits; the first failure is raised at the next submit or flush, with the
jobs queued behind it not sent and counted in the message; after it is raised
the lane works again. The same path against a real node is in
``test_cluster_throughput.py``.
"""

from __future__ import annotations

import threading
import time

import pytest

from picfind.errors import StoreError
from picfind.store.cluster.sender import Job, Sender


def _job(name: str, n: int = 1) -> Job:
    return Job([{"_id": f"{name}{i}"} for i in range(n)], {f"{name}{i}": name for i in range(n)})


class _Gate:
    """A send that records each job and waits until the test lets it finish."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.release = threading.Semaphore(0)
        self.fail = fail or set()

    def __call__(self, job: Job) -> None:
        name = next(iter(job.labels.values()))
        self.started.append(name)
        assert self.release.acquire(timeout=10), "the test never released the job"
        if name in self.fail:
            raise StoreError(f"job {name} failed")
        self.finished.append(name)


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_jobs_go_in_order_and_a_caller_too_far_ahead_waits() -> None:
    gate = _Gate()
    lane = Sender(gate, depth=1)
    lane.submit(_job("a"))  # returns at once: sent in the background
    _wait(lambda: gate.started == ["a"])
    lane.submit(_job("b"))  # queued behind a
    third = threading.Thread(target=lane.submit, args=(_job("c"),))
    third.start()
    time.sleep(0.2)
    assert third.is_alive()  # backpressure: two jobs out already
    assert not lane.idle
    gate.release.release()  # a finishes, b starts, c gets its place
    third.join(10)
    assert not third.is_alive()
    for _ in range(2):
        gate.release.release()
    lane.flush()
    assert gate.finished == ["a", "b", "c"] and lane.sent == 3 and lane.idle


def test_a_failure_is_raised_once_with_the_jobs_behind_it_counted() -> None:
    gate = _Gate(fail={"a"})
    lane = Sender(gate, depth=1)
    lane.submit(_job("a"))
    _wait(lambda: gate.started == ["a"])
    lane.submit(_job("b", 3))  # waits behind a, which fails
    gate.release.release()
    lane.drain()  # waits, raises nothing: the error is for the writer's next call
    with pytest.raises(StoreError) as info:
        lane.submit(_job("c"))
    assert "job a failed" in str(info.value)
    assert "the 3 changes queued after them were not sent either" in str(info.value)
    assert gate.started == ["a"]  # b was never sent, c was refused
    lane.flush()  # raised once: the lane works again
    lane.submit(_job("d"))
    gate.release.release()
    lane.flush()
    assert gate.finished == ["d"]


def test_flush_raises_a_failure_and_any_exception_becomes_a_store_error() -> None:
    def send(job: Job) -> None:
        raise ConnectionError("node went away")

    lane = Sender(send)
    lane.submit(_job("a"))
    with pytest.raises(StoreError, match="bulk write failed: node went away"):
        lane.flush()
    assert lane.idle


def test_the_thread_exists_only_while_there_is_work() -> None:
    lane = Sender(lambda job: None)
    before = {t.name for t in threading.enumerate()}
    for name in "abc":
        lane.submit(_job(name))
    lane.flush()
    _wait(lambda: not any(t.name == "picfind-bulk" for t in threading.enumerate()))
    assert lane.sent == 3 and "picfind-bulk" not in before
