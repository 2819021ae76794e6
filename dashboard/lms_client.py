"""Talking to the LMS: edx-api-client on a shared keep-alive pool, and the staff token.

edx-api-client opens a new requests session (and so a new connection) for every API
object it hands out. Here every client of a process shares one pool, and GET requests
that time out or get a 5xx answer are retried with exponential backoff and jitter
(urllib3's Retry). Every request, token requests included, first takes a slot of its
endpoint's rate limit (dashboard.rate_limits, shared by all workers), and one the LMS
refuses for its rate is sent again after a backoff (rate_limits.call). Otherwise token
requests (POST) are never retried once sent: edX rotates refresh tokens, so a resent
refresh could spend a token twice (a refusal for the rate comes before the grant).

The course-wide read sends tens of thousands of GETs with the staff client's token
(`staff_token` here) over aiohttp, with the same retry policy: see lms_async.
"""

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

import requests
from django.conf import settings
from edx_api.client import EdxApi
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from dashboard import rate_limits
from dashboard.failures import Throttled

RETRIED_STATUSES = frozenset({500, 502, 503, 504})

T = TypeVar("T")
R = TypeVar("R")


class LmsRetry(Retry):
    """urllib3's Retry, minus its own handling of 429: a throttled request goes back
    through the rate limiter (rate_limits.call), Retry-After or not."""

    RETRY_AFTER_STATUS_CODES = frozenset({413, 503})


def retry_policy() -> Retry:
    backoff = settings.EDX_RETRY_BACKOFF
    return LmsRetry(
        total=settings.EDX_RETRIES,
        connect=settings.EDX_RETRIES,
        read=settings.EDX_RETRIES,
        status=settings.EDX_RETRIES,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRIED_STATUSES,
        backoff_factor=backoff,
        backoff_jitter=backoff,
        backoff_max=30,
        respect_retry_after_header=True,
        # The last answer is returned, so the failure records its HTTP status.
        raise_on_status=False,
    )


def shared_adapter() -> HTTPAdapter:
    """One connection pool per process, big enough for every request in flight."""
    return _adapter(
        max(settings.FREEZE_PAGE_CONCURRENCY, settings.FREEZE_LEARNER_CONCURRENCY) + 4,
        settings.EDX_RETRIES,
        settings.EDX_RETRY_BACKOFF,
    )


class LimitedAdapter(HTTPAdapter):
    """requests' adapter whose requests keep to the LMS's rate limits."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        return rate_limits.call(
            rate_limits.endpoint_of(request.url or ""),
            lambda: super(LimitedAdapter, self).send(request, *args, **kwargs),
            lambda response: (response.status_code, response.headers),
            lambda response: response.close(),
        )


@cache
def _adapter(pool_size: int, retries: int, backoff: float) -> HTTPAdapter:
    return LimitedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retry_policy())


class PooledEdxApi(EdxApi):
    """edx-api-client's EdxApi whose requesters share the process's pool and retries."""

    def __init__(self, *args: Any, token_type: str = "Bearer", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requesters: dict[str, requests.Session] = {}
        self._token_type = token_type

    def get_requester(self, token_type: str = "Bearer") -> requests.Session:
        if token_type == "Bearer":
            token_type = self._token_type  # "JWT" for a JWT (EDX_TOKEN_TYPE=jwt)
        if token_type not in self._requesters:
            session = super().get_requester(token_type)
            adapter = shared_adapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            # requests reads the proxy and CA variables of the environment on every
            # request (a walk through os.environ each time); read them once instead.
            session.proxies = requests.utils.get_environ_proxies(self.base_url)
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            session.trust_env = False
            self._requesters[token_type] = session
        return self._requesters[token_type]


def authorization_scheme(token_type: str | None = None) -> str:
    """How an access token of `token_type` (as the token endpoint named it; default
    EDX_TOKEN_TYPE) is sent: edX takes a JWT as `Authorization: JWT ...`."""
    kind = (token_type or settings.EDX_TOKEN_TYPE).lower()
    return "JWT" if kind == "jwt" else "Bearer"


def edx_client(access_token: str, token_type: str | None = None) -> PooledEdxApi:
    return PooledEdxApi(
        {"access_token": access_token},
        base_url=settings.EDXORG_BASE_URL,
        timeout=settings.EDX_REQUEST_TIMEOUT,
        token_type=authorization_scheme(token_type),
    )


class StaffTokenError(Exception):
    """The LMS did not give the staff client a token: no course-wide read is possible."""


class StaffToken:
    """The staff client's access token (client-credentials grant), kept until near expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._issuer: tuple[str, str] | None = None

    def get(self) -> str:
        issuer = (settings.EDXORG_BASE_URL, settings.EDXORG_STAFF_CLIENT_ID)
        with self._lock:
            if self._issuer != issuer or self._expires_at - time.time() < 60:
                self._token, lifetime = self._request()
                self._expires_at = time.time() + lifetime
                self._issuer = issuer
            assert self._token is not None
            return self._token

    def held(self) -> str | None:
        """The token if it is good for another minute, without asking the LMS (so an event
        loop can use it without blocking); else None: call get."""
        issuer = (settings.EDXORG_BASE_URL, settings.EDXORG_STAFF_CLIENT_ID)
        token, expires_at, held_issuer = self._token, self._expires_at, self._issuer
        if held_issuer != issuer or expires_at - time.time() < 60:
            return None
        return token

    def forget(self) -> None:
        """Drop the token (the LMS refused it): the next get asks for a new one."""
        with self._lock:
            self._issuer = None

    def _request(self) -> tuple[str, float]:
        try:
            response = rate_limits.call(
                rate_limits.TOKEN,
                lambda: requests.post(
                    f"{settings.EDXORG_BASE_URL}oauth2/access_token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": settings.EDXORG_STAFF_CLIENT_ID,
                        "client_secret": settings.EDXORG_STAFF_CLIENT_SECRET,
                        "token_type": settings.EDX_TOKEN_TYPE,
                    },
                    timeout=settings.EDX_REQUEST_TIMEOUT,
                ),
                lambda response: (response.status_code, response.headers),
            )
        except requests.RequestException as error:
            reason = type(error).__name__
            raise StaffTokenError(f"the LMS token endpoint failed: {reason}") from None
        except Throttled as error:
            raise StaffTokenError(str(error)) from None
        if response.status_code != 200:
            raise StaffTokenError(
                f"the LMS refused the staff client a token (HTTP {response.status_code})"
            )
        try:
            answer = response.json()
            return answer["access_token"], float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise StaffTokenError("the LMS token endpoint answered a malformed body") from None


staff_token = StaffToken()


def staff_client_configured() -> bool:
    return bool(settings.EDXORG_STAFF_CLIENT_ID and settings.EDXORG_STAFF_CLIENT_SECRET)


def concurrently(
    function: Callable[[T], R], items: Sequence[T], concurrency: int
) -> list[tuple[T, R | Exception]]:
    """[(item, result or the exception it raised)] in the order of items, with at most
    `concurrency` calls in flight; with 1, one after the other in this thread."""

    def outcome(item: T) -> tuple[T, R | Exception]:
        try:
            return item, function(item)
        except Exception as error:  # the caller decides, item by item
            return item, error

    if concurrency <= 1 or len(items) <= 1:
        return [outcome(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        return list(pool.map(outcome, items))
