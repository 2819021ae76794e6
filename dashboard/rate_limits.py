"""Keeping every LMS endpoint under its rate limit, for all worker processes together.

An Open edX LMS throttles some of the endpoints gradefreeze reads, per principal (the
staff user) or per client IP, and every worker of a deployment is that principal or sits
behind that IP. So the budget is shared: each request takes a slot in a sliding window
kept in Redis (a sorted set per endpoint, the slots' times as scores) by a Lua script
that reads Redis's own clock, so that workers on different hosts, whose clocks differ,
agree on one timeline. With no Redis configured (the embedded default, one process) the
same window is kept in this process.

    acquire(GRADES)               # blocks until a request to that endpoint may be sent
    await acquire_async(GRADES)   # the same, awaiting instead of blocking

The limits are the setting EDX_RATE_LIMITS, whose defaults (EDX_THROTTLES below) are
edx-platform's own throttles; an operator whose LMS has throttling disabled or raised
sets higher ones ("enrollments=600/minute", or "off" for no limit).
"""

import asyncio
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from functools import cache
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlsplit

import redis
from django.conf import settings

from dashboard.failures import Throttled

# The endpoints gradefreeze reads, as the limiter (and EDX_RATE_LIMITS) names them.
TOKEN = "token"  # POST /oauth2/access_token
ENROLLMENTS = "enrollments"  # the staff client's enrollment reads (listing and single)
LEARNER_ENROLLMENTS = "learner_enrollments"  # a learner's own /api/enrollment/v1/enrollment
GRADES = "grades"  # /api/grades/v1/courses/...
CERTIFICATES = "certificates"  # /api/certificates/v0/certificates/...
USER = "user"  # /api/user/v1/...
ENDPOINTS = (TOKEN, ENROLLMENTS, LEARNER_ENROLLMENTS, GRADES, CERTIFICATES, USER)

# edx-platform's throttles (Redwood to Teak), written as edX writes them.
EDX_THROTTLES = MappingProxyType(
    {
        # openedx/core/djangoapps/oauth_dispatch/views.py: AccessTokenView is a
        # RatelimitMixin with ratelimit_rate = settings.RATELIMIT_RATE, keyed by the real
        # client IP, block=True (a 403 over the limit); lms/envs/common.py sets
        # RATELIMIT_RATE = '120/m'. Every refresh of a learner's token and the staff
        # client's own token requests count against it.
        TOKEN: "120/m",
        # openedx/core/djangoapps/enrollments/views.py: EnrollmentUserThrottle,
        # THROTTLE_RATES = {'user': '40/minute', 'staff': '120/minute'}, one history per
        # user shared by EnrollmentView and CourseEnrollmentsApiListView: the staff client
        # is one staff user, so all its enrollment reads share 120 a minute.
        ENROLLMENTS: "120/minute",
        # The same throttle's 'user' scope (40/minute) is per learner: each learner's
        # token reads its own enrollments once a round, far below it, so no shared limit.
        LEARNER_ENROLLMENTS: "off",
        # lms/djangoapps/grades/rest_api/v1/views.py and
        # lms/djangoapps/certificates/apis/v0/views.py set no throttle_classes, and
        # lms/envs/common.py's REST_FRAMEWORK names no DEFAULT_THROTTLE_CLASSES; the user
        # API (openedx/core/djangoapps/user_api/accounts/views.py) neither.
        GRADES: "off",
        CERTIFICATES: "off",
        USER: "off",
    }
)

# A slot is held this much longer than the period: the LMS counts requests when they
# arrive, and one request's transit can be shorter than the one before it.
MARGIN_S = 1.0
# Waiting for a slot: never less than this between two tries, plus some jitter, so
# workers that were refused together do not all ask again at the same instant.
MIN_WAIT_S = 0.005
KEY_PREFIX = "gradefreeze:rate:"

# KEYS[1]: the endpoint's sorted set; ARGV: limit, window in microseconds, a unique
# member. Answers 0 when a slot was taken, else the microseconds until the oldest slot
# leaves the window. Scripts replicate their effects (Redis >= 5), so TIME is allowed.
_SLIDING_WINDOW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
"""


def _limit(endpoint: str) -> tuple[int, float] | None:
    """(requests, window in seconds) for `endpoint`, or None when it is not limited."""
    if endpoint not in EDX_THROTTLES:
        raise ValueError(f"unknown LMS endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
    rate = settings.EDX_RATE_LIMITS[endpoint]
    if rate is None:
        return None
    return rate.requests, rate.seconds + MARGIN_S


def _take(endpoint: str) -> float:
    """Take a slot now (0.0), or say how many seconds until one may be free."""
    limit = _limit(endpoint)
    if limit is None:
        return 0.0
    requests, window_s = limit
    if settings.REDIS_URL:
        return _redis_take(settings.REDIS_URL, endpoint, requests, window_s)
    return _local_window(endpoint).take(requests, window_s)


def _pause(wait_s: float) -> float:
    return max(wait_s, MIN_WAIT_S) + random.uniform(0, MIN_WAIT_S)


def acquire(endpoint: str) -> None:
    """Block until a request to `endpoint` may be sent (at once when it has no limit)."""
    while (wait_s := _take(endpoint)) > 0:
        time.sleep(_pause(wait_s))


async def acquire_async(endpoint: str) -> None:
    """Wait, without blocking the event loop, until a request to `endpoint` may be sent."""
    if _limit(endpoint) is None:
        return
    while (wait_s := await _take_async(endpoint)) > 0:
        await asyncio.sleep(_pause(wait_s))


async def _take_async(endpoint: str) -> float:
    if settings.REDIS_URL:
        # One short script call on the process's pool, off the event loop.
        return await asyncio.to_thread(_take, endpoint)
    return _take(endpoint)  # in-process: a lock held for microseconds


@cache
def _redis(url: str) -> tuple[redis.Redis, object]:
    client = redis.Redis.from_url(url)
    return client, client.register_script(_SLIDING_WINDOW)


def _redis_take(url: str, endpoint: str, requests: int, window_s: float) -> float:
    _, script = _redis(url)
    window_us = int(window_s * 1_000_000)
    member = uuid.uuid4().hex
    wait_us = script(keys=[KEY_PREFIX + endpoint], args=[requests, window_us, member])  # type: ignore[operator]
    return int(wait_us) / 1_000_000


class LocalWindow:
    """The same sliding window for one process (the embedded default has no Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()

    def take(self, requests: int, window_s: float) -> float:
        with self._lock:
            now = time.monotonic()
            while self._slots and self._slots[0] <= now - window_s:
                self._slots.popleft()
            if len(self._slots) < requests:
                self._slots.append(now)
                return 0.0
            return max(self._slots[0] + window_s - now, 1e-6)


_local_windows: dict[str, LocalWindow] = {}
_local_lock = threading.Lock()


def _local_window(endpoint: str) -> LocalWindow:
    with _local_lock:
        window = _local_windows.get(endpoint)
        if window is None:
            window = _local_windows[endpoint] = LocalWindow()
        return window


def reset() -> None:
    """Forget every slot taken (tests, and an operator clearing a stuck window)."""
    with _local_lock:
        _local_windows.clear()
    if settings.REDIS_URL:
        client, _ = _redis(settings.REDIS_URL)
        for endpoint in ENDPOINTS:
            client.delete(KEY_PREFIX + endpoint)


# When the LMS refuses a request for its rate (ours was off, or another client shares the
# budget), the request is sent again, through the limiter, after a backoff; any
# transport (edx-api-client's requests, the staff reader's urllib3, an async one) calls
# `throttle_wait` on an answer and `backoff` between tries, or `call` for both.

T = TypeVar("T")


def endpoint_of(url: str) -> str | None:
    """The limiter's name for a request's URL (absolute or relative to the LMS), or None
    for a path it does not limit."""
    path = "/" + urlsplit(url).path.lstrip("/")
    if path.startswith("/oauth2/access_token"):
        return TOKEN
    if path.rstrip("/") == "/api/enrollment/v1/enrollment":
        return LEARNER_ENROLLMENTS  # a learner's own (EnrollmentListView)
    if path.startswith("/api/enrollment/"):
        return ENROLLMENTS  # the staff listing, or one learner's enrollment
    if path.startswith("/api/grades/"):
        return GRADES
    if path.startswith("/api/certificates/"):
        return CERTIFICATES
    if path.startswith("/api/user/"):
        return USER
    return None


def throttle_wait(endpoint: str | None, status: int, headers: Mapping[str, str]) -> float | None:
    """None when an answer is not a rate limit's refusal, else the seconds it asks to
    wait (0 when it does not say).

    - 429, with or without Retry-After: DRF's Throttled. edx-platform's
      DeveloperErrorViewMixin (openedx/core/lib/api/view_utils.py) drops the header.
    - 403 from the token endpoint that is not JSON: django-ratelimit's block (the
      RatelimitMixin of oauth_dispatch's AccessTokenView raises Ratelimited, a
      PermissionDenied, rendered as Django's HTML 403 page). It is checked before the
      view runs, so the refresh token it carried was not spent. OAuth errors are JSON.
    """
    if status == 429:
        return retry_after_seconds(headers.get("Retry-After")) or 0.0
    if status == 403 and endpoint == TOKEN:
        content_type = headers.get("Content-Type", "")
        return None if "json" in content_type.lower() else 0.0
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now, at most 300;
    None when there is none or it is neither."""
    if not value:
        return None
    try:
        return min(max(float(value.strip()), 0.0), 300.0)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        return min(max(when - time.time(), 0.0), 300.0)


def backoff(attempt: int, asked_s: float) -> float:
    """Seconds before try `attempt` + 1 of a throttled request: what the LMS asked, or
    EDX_RETRY_BACKOFF * 2**attempt (at most 30 s), whichever is longer, plus jitter."""
    base = settings.EDX_RETRY_BACKOFF or 0.5
    exponential = min(base * 2**attempt, 30.0)
    return max(asked_s, exponential) + random.uniform(0, base)


def call(
    endpoint: str | None,
    send: Callable[[], T],
    refusal: Callable[[T], tuple[int, Mapping[str, str]]],
    discard: Callable[[T], object] | None = None,
) -> T:
    """`send()` once the limiter allows it, again after a backoff while the answer is a
    rate limit's refusal; raises Throttled past EDX_THROTTLE_PATIENCE seconds.
    `refusal(answer)` gives the answer's status and headers; `discard(answer)` releases
    a refused answer (its connection) before the next try."""
    started = time.monotonic()
    attempt = 0
    while True:
        if endpoint is not None:
            acquire(endpoint)
        answer = send()
        pause = _pause_before_next_try(endpoint, refusal(answer), started, attempt)
        if pause is None:
            return answer
        if discard is not None:
            discard(answer)
        time.sleep(pause)
        attempt += 1


async def call_async(
    endpoint: str | None,
    send: Callable[[], Awaitable[T]],
    refusal: Callable[[T], tuple[int, Mapping[str, str]]],
) -> T:
    """`call` for an async transport: awaits the limiter, the answer and the backoff."""
    started = time.monotonic()
    attempt = 0
    while True:
        if endpoint is not None:
            await acquire_async(endpoint)
        answer = await send()
        pause = _pause_before_next_try(endpoint, refusal(answer), started, attempt)
        if pause is None:
            return answer
        await asyncio.sleep(pause)
        attempt += 1


def _pause_before_next_try(
    endpoint: str | None,
    answer: tuple[int, Mapping[str, str]],
    started: float,
    attempt: int,
) -> float | None:
    """None when `answer` (status, headers) is not a rate limit's refusal; else the
    seconds to wait before try `attempt` + 1, or Throttled once that would take the
    request past EDX_THROTTLE_PATIENCE."""
    status, headers = answer
    asked = throttle_wait(endpoint, status, headers)
    if asked is None:
        return None
    pause = backoff(attempt, asked)
    waited = time.monotonic() - started
    if waited + pause > settings.EDX_THROTTLE_PATIENCE:
        raise Throttled(endpoint or "the LMS", status, waited)
    return pause
