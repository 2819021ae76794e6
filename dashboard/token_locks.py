"""Locks on learners' edX links while their refresh token is being spent (`token_refresh`).

A lock belongs to the process's database session, not to a transaction: it is held
across the commits of the new token pairs it protects, and it dies with the session,
so a killed worker never leaves a learner locked.

- PostgreSQL: session advisory locks, keyed by the link's id.
- SQLite (the embedded default, on one host): POSIX byte-range locks on a file beside
  the database, one byte per link, which the kernel releases when the process dies;
  and, since those exclude other processes only, a registry of the ids this process's
  threads hold.

Locks are taken in ascending order of link id, blocking: two lockers of overlapping sets
never wait on each other in a cycle.
"""

import contextlib
import fcntl
import threading
from collections.abc import Iterable, Iterator
from typing import IO

from django.conf import settings
from django.db import DatabaseError, connection

# The first key of PostgreSQL's two-key advisory locks: this project's links, apart
# from any other advisory lock taken in the same database.
ADVISORY_NAMESPACE = 0x67660001  # "gf", 1


class LinkLocks:
    """The locks this thread holds on edX links, taken and released on its session."""

    def __init__(self) -> None:
        self.held: set[int] = set()

    def acquire(self, link_ids: Iterable[int]) -> None:
        """Lock these links, waiting for whoever holds one of them."""
        ids = sorted(set(link_ids) - self.held)
        if ids:
            _backend().acquire(ids)
            self.held.update(ids)

    def release(self, link_ids: Iterable[int]) -> None:
        ids = sorted(self.held.intersection(link_ids))
        if ids:
            self.held.difference_update(ids)
            _backend().release(ids)


@contextlib.contextmanager
def locked(link_ids: Iterable[int]) -> Iterator[LinkLocks]:
    """Hold the locks of these links; those still held at the end are released.

    A session lost meanwhile (the database restarted) has released them already.
    """
    locks = LinkLocks()
    try:
        locks.acquire(link_ids)
        yield locks
    finally:
        with contextlib.suppress(DatabaseError):
            locks.release(list(locks.held))


class _PostgresLocks:
    def acquire(self, ids: list[int]) -> None:
        with connection.cursor() as cursor:
            # unnest keeps the array's order: the locks are taken in ascending order.
            cursor.execute(
                "SELECT pg_advisory_lock(%s, id) FROM unnest(%s::integer[]) AS id",
                [ADVISORY_NAMESPACE, ids],
            )

    def release(self, ids: list[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, id) FROM unnest(%s::integer[]) AS id",
                [ADVISORY_NAMESPACE, ids],
            )


class _FileLocks:
    _threads = threading.Condition()
    _held_here: set[int] = set()
    _file: IO[bytes] | None = None

    def _fd(self) -> int:
        # One file object for the process's life: closing any descriptor of the file
        # would release every lock the process holds on it.
        if _FileLocks._file is None:
            _FileLocks._file = open(settings.VAR_DIR / "edx-link-locks", "ab")  # noqa: SIM115
        return _FileLocks._file.fileno()

    def acquire(self, ids: list[int]) -> None:
        for link_id in ids:
            with self._threads:
                while link_id in self._held_here:  # by another thread of this process
                    self._threads.wait()
                self._held_here.add(link_id)
            try:
                fcntl.lockf(self._fd(), fcntl.LOCK_EX, 1, link_id)
            except BaseException:
                self._forget([link_id])
                raise

    def release(self, ids: list[int]) -> None:
        try:
            for link_id in ids:
                fcntl.lockf(self._fd(), fcntl.LOCK_UN, 1, link_id)
        finally:
            self._forget(ids)

    def _forget(self, ids: list[int]) -> None:
        with self._threads:
            self._held_here.difference_update(ids)
            self._threads.notify_all()


def _backend() -> _PostgresLocks | _FileLocks:
    if connection.vendor == "postgresql":
        return _PostgresLocks()
    if connection.vendor == "sqlite":
        return _FileLocks()
    raise NotImplementedError(f"edX link locks on {connection.vendor}")
