"""Learners' edX access tokens, refreshed with social-core's refresh-token grant.

edX rotates the refresh token on every use: each one can be spent once, and the pair it
buys is the platform's only way back to the learner. Hence two rules.

- **Never spend one twice.** A learner's link is locked (`token_locks`: a lock of the
  database session, not of a transaction) from before the grant until the new pair is
  committed. Another worker refreshing the same learner waits, reads the new pair, and
  uses it without a grant of its own.
- **Never lose a pair.** Each new pair is committed as soon as it arrives, before any
  request uses it and before its lock is released: the pairs that arrived together in
  one UPDATE, committed at once.

The grants run in threads, many at once, and each learner's reads follow their grant in
the same thread. The thread that called `refresh_tokens` holds the locks and the
database connection (the threads never touch the database): it commits each pair as it
comes back (encrypted as `edx_tokens` requires) and lets that thread go on to its reads;
the locks are released once every grant has answered. Grants are not serialized: as many
are in flight as threads.

What a kill of the process costs, at each step of one learner's refresh:

1. links locked, grant not sent: nothing; the locks die with the session.
2. grant sent, not answered yet: that learner's grant if the LMS rotated it anyway. An
   LMS that drops the request of a client gone (the sandbox does) rotates nothing; one
   that does not (gunicorn) loses up to one grant per thread here.
3. answered, pair not committed yet (the answer's way back and one commit): that
   learner's grant. This and 2 are the allowance, the grants whose answer was in flight.
4. pair committed: nothing, whatever happens to the reads after.

A database restart ends the session, and its locks with it: no further grant is sent,
those in flight are waited for, and every pair that came back is saved once the database
answers again (for up to SAVE_RETRY_SECONDS), under locks taken anew and only over the
refresh token it spent; then the error is raised and the caller's chunk runs again later.
An exception in the calling thread (Celery's soft time limit) stops the grants the same
way, saves the pairs in flight, and is raised again.
"""

import contextlib
import logging
import os
import queue
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Event, Lock
from typing import Any, cast

import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from social_core.backends.oauth import BaseOAuth2
from social_core.exceptions import SocialAuthBaseException
from social_core.storage import UserMixin
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from dashboard import rate_limits, token_locks
from dashboard.edx_tokens import encrypted_tokens
from dashboard.failures import EdxRefreshError, Reason, Stage, learner_error
from gradefreeze.bulk_writes import update_rows

log = logging.getLogger(__name__)

EDX_PROVIDER = "edxorg"
# How long new pairs whose commit failed (the database went away) are kept and saved
# again: a restart or a failover of the database takes seconds to a minute.
SAVE_RETRY_SECONDS = 60

# What a learner's read gives once their token is fresh: its result, or what it raised.
ReadOutcome = Any


def edx_links(users: Iterable[User]) -> dict[int, UserSocialAuth]:
    """{user id: the learner's edX link} for those of `users` who have one."""
    links = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user__in=list(users))
    return {link.user_id: link for link in links}


def user_ids_by_edx_username(usernames: Iterable[str]) -> dict[str, int]:
    """{edX username: user id} of the learners linked to these edX accounts."""
    links = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, uid__in=list(usernames))
    return dict(links.values_list("uid", "user_id"))


def _token_expires_soon(link: UserSocialAuth) -> bool:
    issued = link.extra_data.get("auth_time")
    lifetime = link.extra_data.get("expires_in")
    if not issued or not lifetime:
        return True
    try:
        expires_at = int(issued) + int(lifetime)
    except (TypeError, ValueError):
        return True
    return expires_at - settings.EDX_TOKEN_REFRESH_MARGIN <= time.time()


class RefreshInterrupted(Exception):
    """The refresh stopped (the database went away, or the caller was interrupted):
    this learner's grant was not sent, or its new pair not committed."""


@dataclass
class _Answer:
    """What a grant thread reports to the committer, once per learner."""

    link: UserSocialAuth
    # The refresh token the grant spent, when there is a new pair to commit; None when
    # there is none (the grant failed, was not sent, or changed nothing).
    spent: str | None = None
    # What the grant thread waits on before it reads with the new pair.
    committed: Future[None] = field(default_factory=Future)


class _Committer:
    """Commits the new pairs for the thread that holds the locks and the connection."""

    def __init__(self, locks: token_locks.LinkLocks) -> None:
        self.locks = locks
        self.answers: queue.SimpleQueue[_Answer] = queue.SimpleQueue()
        self.stopped = Event()  # no grant may be sent any more
        self.grants: list[Future[ReadOutcome]] = []
        self.reads: list[Future[ReadOutcome]] = []
        self.outstanding = 0  # grants that have not reported yet
        self.pairs: list[_Answer] = []  # every new pair reported
        self.unsaved: list[_Answer] = []
        self.database_error: DatabaseError | None = None

    # In the grant threads

    def report(self, answer: _Answer) -> None:
        """Hand over a learner's outcome; with a new pair, wait until it is committed
        (raises RefreshInterrupted if it was not)."""
        self.answers.put(answer)
        if answer.spent is not None:
            answer.committed.result()

    # In the thread that holds the locks

    def serve(self, grants: list[Future[ReadOutcome]], reads: list[Future[ReadOutcome]]) -> None:
        """Commit pairs as they arrive until every grant has reported. Interrupted, it
        stops the grants, saves those in flight, and raises again."""
        self.grants, self.reads = grants, reads
        self.outstanding = len(grants)
        try:
            while self.outstanding:
                self._commit(self._arrived())
        except BaseException:
            self._stop()
            while self.outstanding:
                arrived = self._arrived()
                with contextlib.suppress(Exception):
                    self._commit(arrived)
            raise
        finally:
            for answer in self.pairs:  # no grant thread waits for ever
                if not answer.committed.done():
                    answer.committed.set_exception(RefreshInterrupted("not committed"))
            if self.unsaved:
                self._save_once_the_database_answers()
        if self.database_error is not None:
            raise self.database_error

    def _stop(self) -> None:
        """No more grants: those not sent yet are not, and reads not started are dropped."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        for read in self.reads:
            read.cancel()
        self.outstanding -= sum(grant.cancel() for grant in self.grants)

    def _arrived(self) -> list[_Answer]:
        arrived = [self.answers.get()]
        while True:
            try:
                arrived.append(self.answers.get_nowait())
            except queue.Empty:
                break
        self.outstanding -= len(arrived)
        pairs = [answer for answer in arrived if answer.spent is not None]
        self.pairs += pairs
        if self.database_error is not None:
            self.unsaved += pairs
        return arrived

    def _commit(self, arrived: list[_Answer]) -> None:
        """Commit the new pairs that arrived together, in one statement, and let their
        threads go on to their reads. The locks are released together once every grant
        has reported.

        One statement for all of them, not one each: the grants of a chunk are sent at
        once and come back together, and a commit each made the last of them wait for
        every other's round trip to the database (measured: the committer was the
        per-learner freeze's critical path). A kill loses the same either way: the pairs
        that arrived and were not committed, whose answers were in flight."""
        if self.database_error is not None:
            return
        pairs = [answer for answer in arrived if answer.spent is not None]
        if not pairs:
            return
        try:
            _save_pairs([answer.link for answer in pairs])
        except DatabaseError as error:
            self.unsaved += pairs
            self._lost_database(error)
            return
        for answer in pairs:
            answer.committed.set_result(None)

    def _lost_database(self, error: DatabaseError) -> None:
        log.error("the database went away while refreshing edX tokens: %s", error)
        self.database_error = error
        self._stop()

    def _save_once_the_database_answers(self) -> None:
        """Save the pairs whose commit failed, under their locks taken anew, over the
        refresh token each one spent only (anything else is newer)."""
        deadline = time.monotonic() + SAVE_RETRY_SECONDS
        spent = {answer.link.pk: answer.spent for answer in self.unsaved}
        while True:
            try:
                connection.close()
                with token_locks.locked(spent):
                    stored = UserSocialAuth.objects.filter(pk__in=list(spent))
                    current = {link.pk: link.extra_data.get("refresh_token") for link in stored}
                    for answer in self.unsaved:
                        if current.get(answer.link.pk) == answer.spent:
                            _save_pairs([answer.link])
                self.unsaved = []
                return
            except DatabaseError:
                if time.monotonic() > deadline:
                    log.error("%d learners' new edX tokens were lost", len(self.unsaved))
                    return
                time.sleep(1)


def refresh_tokens(
    links: dict[int, UserSocialAuth],
    then: Callable[[UserSocialAuth], ReadOutcome] | None = None,
) -> tuple[dict[int, UserSocialAuth], dict[int, EdxRefreshError], dict[int, ReadOutcome]]:
    """Refresh the access tokens of `links` that are due, many at once; returns the
    links as saved, {user id: EdxRefreshError} for those that could not be, and what
    `then` gave.

    With `then`, each learner's `then(link)` (their reads) runs in the thread that made
    their token fresh, right after its pair is committed, so that a chunk's grants and
    reads overlap: {user id: its result or the exception it raised}.
    """
    fresh = dict(links)
    due = sorted(link.pk for link in links.values() if _token_expires_soon(link))
    pool = _Submitted(learner_pool())
    reads: dict[int, Future[ReadOutcome]] = {}
    try:
        if then is not None:
            reads = {
                link.user_id: pool.submit(then, link)
                for link in links.values()
                if link.pk not in due
            }
        grants = _grant_due(due, pool, then, fresh, reads) if due else {}
    except BaseException:
        pool.cancel()
        raise
    pool.wait()
    errors: dict[int, EdxRefreshError] = {}
    outcomes = {user_id: read.exception() or read.result() for user_id, read in reads.items()}
    for user_id, grant in grants.items():
        error = grant.exception()
        if error is None:
            outcomes[user_id] = grant.result()
        else:
            errors[user_id] = _grant_error(error)
    for user_id, link in fresh.items():
        if user_id not in errors and not link.extra_data.get("access_token"):
            errors[user_id] = EdxRefreshError(Stage.TOKEN_REFRESH, Reason.NO_ACCESS_TOKEN)
    return fresh, errors, outcomes


_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = Lock()


def learner_pool() -> ThreadPoolExecutor:
    """This process's threads for learners' grants and reads, FREEZE_LEARNER_CONCURRENCY
    of them, kept from chunk to chunk: starting fifty threads for each chunk took a
    fifth of the chunk's time (measured with py-spy). A forked child makes its own."""
    key = (os.getpid(), max(1, settings.FREEZE_LEARNER_CONCURRENCY))
    with _pools_lock:
        if key not in _pools:
            # A pool left behind (the setting changed) ends its threads once unused.
            _pools.clear()
            _pools[key] = ThreadPoolExecutor(max_workers=key[1], thread_name_prefix="edx-learner")
        return _pools[key]


class _Submitted:
    """One refresh's work on the shared pool: what it submitted, to wait for or cancel."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.futures: list[Future[ReadOutcome]] = []

    def submit(self, function: Callable[..., ReadOutcome], *args: Any) -> Future[ReadOutcome]:
        future = self.pool.submit(function, *args)
        self.futures.append(future)
        return future

    def wait(self) -> None:
        futures.wait(self.futures)

    def cancel(self) -> None:
        """Drop what has not started; what runs ends on its own (a grant reports to a
        committer that is stopping)."""
        for future in self.futures:
            future.cancel()


def _grant_due(
    due: list[int],
    pool: "_Submitted",
    then: Callable[[UserSocialAuth], ReadOutcome] | None,
    fresh: dict[int, UserSocialAuth],
    reads: dict[int, Future[ReadOutcome]],
) -> dict[int, Future[ReadOutcome]]:
    """Lock the due links, read them again (another worker may have refreshed some
    meanwhile: those are only read), and grant the others in `pool`; returns
    {user id: the future of their grant and reads}."""
    # Each pair is committed on its own: inside a transaction none would be. Refused
    # (RuntimeError) before any grant is sent.
    with transaction.atomic(durable=True):
        pass
    with token_locks.locked(due) as locks:
        rows = list(UserSocialAuth.objects.select_related("user").filter(pk__in=due))
        fresh.update((link.user_id, link) for link in rows)
        todo = [link for link in rows if _token_expires_soon(link)]
        refreshed = [link for link in rows if link not in todo]
        locks.release(link.pk for link in refreshed)
        if then is not None:
            reads.update((link.user_id, pool.submit(then, link)) for link in refreshed)
        if not todo:
            return {}
        committer = _Committer(locks)
        backend = cast(BaseOAuth2, todo[0].get_backend_instance(load_strategy()))
        grants = {
            link.user_id: pool.submit(_grant, backend, link, committer, then) for link in todo
        }
        committer.serve(list(grants.values()), list(reads.values()))
    return grants


def _grant(
    backend: BaseOAuth2,
    link: UserSocialAuth,
    committer: _Committer,
    then: Callable[[UserSocialAuth], ReadOutcome] | None,
) -> ReadOutcome:
    """In a grant thread: spend the learner's refresh token, have the new pair committed,
    then read. Reports to the committer exactly once, whatever happens."""
    answer = _Answer(link)
    try:
        if committer.stopped.is_set():
            raise RefreshInterrupted("the refresh stopped before this grant")
        token = backend.get_refresh_token(link.extra_data)
        if not token:
            raise EdxRefreshError(Stage.TOKEN_REFRESH, Reason.REAUTHENTICATION_REQUIRED)
        granted = _refresh(backend, token, link)
        extra = backend.extra_data(link.user, link.uid, granted, link.extra_data or {}, {})
        # social-core's merge of the new token fields, without social_django's save:
        # the committer saves it.
        if UserMixin.set_extra_data(link, extra):
            answer.spent = token
    finally:
        committer.report(answer)
    return None if then is None else _outcome(then, link)


def _refresh(backend: BaseOAuth2, token: str, link: UserSocialAuth) -> dict:
    """The refresh-token grant, within the token endpoint's rate limit. A refusal for the
    rate (edX checks it before the grant, so the token was not spent) is sent again."""

    def send() -> dict | requests.Response:
        try:
            return backend.refresh_token(token, **backend.get_refresh_token_kwargs(link.extra_data))
        except SocialAuthBaseException as error:
            # social-core raises its own error from requests' HTTPError, which keeps
            # the answer.
            cause = error.__cause__
            answer = cause.response if isinstance(cause, requests.HTTPError) else None
            if (
                answer is not None
                and rate_limits.throttle_wait(rate_limits.TOKEN, answer.status_code, answer.headers)
                is not None
            ):
                return answer
            raise

    def refusal(answer: dict | requests.Response) -> tuple[int, Mapping[str, str]]:
        if isinstance(answer, requests.Response):
            return answer.status_code, answer.headers
        return 200, {}

    granted = rate_limits.call(rate_limits.TOKEN, send, refusal)
    assert isinstance(granted, dict)
    return granted


def _grant_error(error: BaseException) -> EdxRefreshError:
    if isinstance(error, SocialAuthBaseException):
        code = getattr(error, "code", None) or type(error).__name__
        refresh_error = EdxRefreshError(
            Stage.TOKEN_REFRESH, code, getattr(error, "status_code", None)
        )
        refresh_error.__cause__ = error  # what social-core said, for whoever debugs it
        return refresh_error
    if isinstance(error, Exception):
        return learner_error(error, Stage.TOKEN_REFRESH)
    raise error


def _outcome(
    function: Callable[[UserSocialAuth], ReadOutcome], link: UserSocialAuth
) -> ReadOutcome:
    try:
        return function(link)
    except Exception as error:  # the caller decides, learner by learner
        return error


def _save_pairs(links: list[UserSocialAuth]) -> None:
    """Store the new tokens of `links` together, all or none, encrypted as a save would
    encrypt them (an update skips the save signals), in one statement: outside a
    transaction, its own commit, so they are stored after one round trip to the
    database."""
    now = timezone.now()
    update_rows(
        UserSocialAuth,
        [
            {"id": link.pk, "extra_data": encrypted_tokens(link.extra_data), "modified": now}
            for link in links
        ],
    )
