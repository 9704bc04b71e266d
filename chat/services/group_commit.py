"""Group commit: writers that arrive together share one write and one commit.

Why: a commit is the largest single cost of storing a message (SQLite appends to its
WAL, PostgreSQL makes a round trip and flushes), and SQLAlchemy's bookkeeping for a
transaction costs about as much again (docs/performance.md, round 3). Sends that
arrive together can share both.

How (the leader/follower scheme of databases' own group commit): the first writer to
arrive while none is working becomes the leader. It yields once, so that writers
already scheduled to run can queue behind it, then takes the whole queue and stores
it with one call of ``store``. The others wait for their own outcome. When the leader
is done, the first writer that queued meanwhile leads the next batch. Nobody waits
on a timer: alone, a write is stored at once (one yield later); under load the
batches grow by themselves with the queue, which is when sharing pays.

A batch holds at most ``max_batch`` writers: on SQLite a batch runs without yielding
(the driver blocks the gevent hub), so its size bounds how long the hub is held; the
rest lead the next batch.

The outcome of each item is its own: ``store`` returns one result or exception per
item, and an exception that escapes ``store`` is every item's outcome.

Waiting and yielding use the server's async mode (``socketio.sleep`` and
Engine.IO's events: gevent's under gunicorn, threads' in the in-process tests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

#: ``store(items)`` -> one result, or one exception to raise, per item, in order.
Store = Callable[[list[Item]], list[Any]]


@dataclass(eq=False)
class _Waiter(Generic[Item]):
    item: Item
    wake: Any  # an Event of the server's async mode
    outcome: Any = None
    done: bool = False
    leads: bool = False


@dataclass(eq=False)
class GroupCommit(Generic[Item]):
    """One queue of writers; ``submit`` returns an item's result or raises its error."""

    store: Store
    create_event: Callable[[], Any]
    yield_now: Callable[[], None]
    max_batch: int = 16
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: list[_Waiter[Item]] = field(default_factory=list)
    _leader_working: bool = False

    def submit(self, item: Item) -> Any:
        waiter = _Waiter(item, self.create_event())
        with self._lock:
            self._queue.append(waiter)
            waiter.leads = not self._leader_working
            self._leader_working = True
        if not waiter.leads:
            try:
                waiter.wake.wait()
            except BaseException:
                self._abandon(waiter)
                raise
        if not waiter.done:  # promoted: the queue is ours to store
            self._lead(waiter)
        if isinstance(waiter.outcome, BaseException):
            raise waiter.outcome
        return waiter.outcome

    def _lead(self, leader: _Waiter[Item]) -> None:
        batch: list[_Waiter[Item]] | None = None
        try:
            self.yield_now()  # writers already scheduled join this batch
            with self._lock:  # the leader is first in the queue: it is in its batch
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            try:
                outcomes = self.store([waiter.item for waiter in batch])
            except Exception as error:  # every item's outcome; BaseException goes up
                outcomes = [error] * len(batch)
            for waiter, outcome in zip(batch, outcomes, strict=True):
                waiter.outcome, waiter.done = outcome, True
        finally:
            with self._lock:
                if batch is None:  # interrupted before taking the queue
                    self._queue.remove(leader)
                else:
                    for waiter in batch:
                        if waiter is not leader and waiter.done:
                            waiter.wake.set()
                    if not leader.done:  # interrupted while storing: theirs is unknown
                        for waiter in batch:
                            if waiter is not leader:
                                waiter.outcome, waiter.done = _interrupted(), True
                                waiter.wake.set()
                self._hand_over()

    def _abandon(self, waiter: _Waiter[Item]) -> None:
        """A waiter interrupted (its greenlet killed): it must not keep the queue waiting."""
        with self._lock:
            if waiter in self._queue:
                self._queue.remove(waiter)
            if waiter.leads and not waiter.done:
                self._hand_over()

    def _hand_over(self) -> None:
        """With the lock held: wake the next leader, or let the next writer lead."""
        if self._queue:
            self._queue[0].leads = True
            self._queue[0].wake.set()
        else:
            self._leader_working = False


def _interrupted() -> Exception:
    return RuntimeError("The batch was interrupted; the write may not have been stored.")
