"""The readers' transport: GETs of edX's APIs over aiohttp, with the staff client's token
(course-wide) or a learner's (per-learner), many in flight on one connection pool per
process, on an event loop of its own.

A freeze sends tens of thousands of GETs. Over aiohttp a request costs about 0.1 ms of
CPU here, against urllib3's 0.4 ms and requests' 1.1 ms (edx-api-client's transport); at
100,000 learners that difference was the freeze's bottleneck, in both modes, so the
readers build edx-api-client's three learner URLs themselves (the same paths) rather
than call it. Token grants stay on requests, through social-core. Each worker process runs
one event loop in a daemon thread (started on first use, and anew in a forked child);
the freeze's threads hand it coroutines with `submit` or `run` and go on with their
own work (the database writes of the previous half page) while it reads.

Every try first takes a slot of its endpoint's rate limit (dashboard.rate_limits, shared
by all workers), and an answer refusing it for the LMS's rate (429, with or without
Retry-After) is sent again through the limiter after a backoff, up to
EDX_THROTTLE_PATIENCE (rate_limits.call_async). Other retries follow urllib3's Retry: up
to EDX_RETRIES of them on a timeout, a failed connection or a 5xx of RETRIED_STATUSES;
the first at once, the next after
EDX_RETRY_BACKOFF * 2**(n-1) s plus up to EDX_RETRY_BACKOFF of jitter (at most 30 s); a
503 with `Retry-After` waits what it says. The last answer is returned, so the failure
records its HTTP status; a 401 to the staff token makes it be asked anew on the next
request, and is not retried.
"""

import asyncio
import atexit
import contextlib
import functools
import json
import os
import random
import threading
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from django.conf import settings

from dashboard import rate_limits
from dashboard.failures import EdxRefreshError, Stage, edx_errors
from dashboard.lms_client import (
    RETRIED_STATUSES,
    StaffTokenError,
    authorization_scheme,
    staff_token,
)

T = TypeVar("T")

BACKOFF_MAX = 30
# Answers whose Retry-After is honoured: urllib3's Retry.RETRY_AFTER_STATUS_CODES but 429
# (the limiter's)
RETRY_AFTER_STATUSES = frozenset({413, 503})


@dataclass(frozen=True)
class StaffAnswer:
    """An LMS answer, read whole: its HTTP status and body."""

    status: int
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class _LoopThread:
    """This process's event loop, run forever in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def current(self) -> asyncio.AbstractEventLoop | None:
        """The loop, if this process started one."""
        return self._loop if self._pid == os.getpid() else None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A prefork worker forks after import: a child starts its own loop and thread.
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="lms-async", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
                _readers.clear()
            return self._loop


_loop_thread = _LoopThread()


def submit(coroutine: Coroutine[Any, Any, T]) -> "Future[T]":
    """Run `coroutine` on this process's event loop; its future (never call from that loop)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _loop_thread.get())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on this process's event loop and wait for its result."""
    return submit(coroutine).result()


@dataclass(frozen=True)
class LearnerToken:
    """A learner's access token, and its type as the token endpoint named it."""

    access_token: str
    token_type: str | None = None


class AsyncLmsReader:
    """GETs with the staff client's token or a learner's, at most `pool_size` in flight
    (one pool)."""

    def __init__(self, pool_size: int, timeout: float, retries: int, backoff: float) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size),
            # per attempt, from when a connection of the pool is the request's
            timeout=aiohttp.ClientTimeout(total=timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self.in_flight = asyncio.Semaphore(pool_size)
        self.retries = retries
        self.backoff = backoff

    async def get(
        self,
        endpoint: str | None,
        path_or_url: str,
        params: dict | None = None,
        learner: LearnerToken | None = None,
    ) -> StaffAnswer:
        """The answer to a GET of `endpoint` (rate_limits' name: grades, enrollments,
        certificates; None: from the URL) with `learner`'s token, or the staff client's;
        `path_or_url` is relative to the LMS. Raises
        aiohttp.ClientError or TimeoutError when the retries are spent on failed
        connections or timeouts, Throttled when the LMS's refusals outlast
        EDX_THROTTLE_PATIENCE."""
        url = path_or_url
        if not url.startswith(("http://", "https://")):
            url = settings.EDXORG_BASE_URL + path_or_url
        endpoint = endpoint or rate_limits.endpoint_of(url)
        retried = 0
        while True:
            if learner is None:
                token = staff_token.held() or await asyncio.to_thread(staff_token.get)
                authorization = f"{authorization_scheme()} {token}"
            else:
                authorization = f"{authorization_scheme(learner.token_type)} {learner.access_token}"
            headers = {"Authorization": authorization, "Accept": "application/json"}
            try:
                answer, retry_after = await rate_limits.call_async(
                    endpoint,
                    functools.partial(self._send, url, params, headers),
                    lambda sent: (sent[0].status, sent[0].headers),
                )
            except (aiohttp.ClientError, TimeoutError):
                if retried >= self.retries:
                    raise
                wait = backoff_s(retried + 1, self.backoff)
            else:
                if answer.status == 401 and learner is None:
                    staff_token.forget()  # revoked or expired early: the next request asks anew
                if retried >= self.retries or answer.status not in RETRIED_STATUSES:
                    return answer
                wait = wait_s(answer, retry_after, retried + 1, self.backoff)
            retried += 1
            if wait > 0:
                await asyncio.sleep(wait)

    async def _send(
        self, url: str, params: dict | None, headers: dict
    ) -> tuple[StaffAnswer, str | None]:
        """One try: the answer, and its Retry-After."""
        async with self.in_flight, self.session.get(url, params=params, headers=headers) as got:
            answer = StaffAnswer(got.status, await got.read(), got.headers)
            return answer, got.headers.get("Retry-After")


def backoff_s(retry: int, backoff: float) -> float:
    """Seconds before the `retry`-th retry (1 for the first, which waits none), as
    urllib3's Retry.get_backoff_time."""
    if retry <= 1:
        return 0.0
    wait = backoff * 2 ** (retry - 1) + random.random() * backoff
    return max(0.0, min(BACKOFF_MAX, wait))


def wait_s(answer: StaffAnswer, retry_after: str | None, retry: int, backoff: float) -> float:
    """Seconds before retrying this answer: what a 503 asked for, else the backoff."""
    if retry_after is not None and answer.status in RETRY_AFTER_STATUSES:
        asked = rate_limits.retry_after_seconds(retry_after)
        if asked is not None:
            return asked
    return backoff_s(retry, backoff)


_readers: dict[tuple, AsyncLmsReader] = {}


def async_reader() -> AsyncLmsReader:
    """This process's reader for the settings in force (call on the event loop); a reader
    made for other settings is closed."""
    key = (
        # a learner's thread has one request in flight at a time
        max(settings.FREEZE_PAGE_CONCURRENCY, settings.FREEZE_LEARNER_CONCURRENCY),
        settings.EDX_REQUEST_TIMEOUT,
        settings.EDX_RETRIES,
        settings.EDX_RETRY_BACKOFF,
    )
    if key not in _readers:
        for old in _readers.values():
            asyncio.ensure_future(old.session.close())
        _readers.clear()
        _readers[key] = AsyncLmsReader(*key)
    return _readers[key]


async def get_json(
    endpoint: str | None,
    path_or_url: str,
    fields: dict | None = None,
    *,
    learner: LearnerToken | None = None,
    not_found: Callable[[bytes], Any] | None = None,
    empty_ok: bool = False,
) -> Any:
    """edX's JSON answer to a GET of `endpoint` (rate_limits' name; None: from the URL)
    with `learner`'s token or the staff client's; for a 404, what `not_found(body)` makes
    of it if given; None for a 200 with no body (DRF's Response(None)) if `empty_ok`.
    Raises EdxRefreshError. Call on this module's event loop."""
    with edx_errors():
        try:
            response = await async_reader().get(endpoint, path_or_url, fields, learner)
        except StaffTokenError as error:
            raise EdxRefreshError(Stage.TOKEN_REFRESH, str(error)) from None
        if not_found is not None and response.status == 404:
            return not_found(response.data)
        if response.status >= 400:
            raise EdxRefreshError(Stage.CACHE_REFRESH, "http_error", response.status)
        if empty_ok and not response.data.strip():
            return None
        return json.loads(response.data)


async def _close_readers() -> None:
    for reader in _readers.values():
        await reader.session.close()
    _readers.clear()


@atexit.register
def _close_at_exit() -> None:
    """Close the pool's connections before the interpreter (and the loop's thread) ends."""
    loop = _loop_thread.current()
    if loop is not None and _readers:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_close_readers(), loop).result(timeout=5)
