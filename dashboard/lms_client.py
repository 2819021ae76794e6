"""Talking to the LMS: edx-api-client on a shared keep-alive pool, and the staff reader.

edx-api-client opens a new requests session (and so a new connection) for every API
object it hands out. Here every client of a process shares one pool, and GET requests
that time out or get a 5xx answer are retried with exponential backoff and jitter
(urllib3's Retry). Token requests (POST) are never retried once sent: edX rotates
refresh tokens, so a resent refresh could spend a token twice.

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

RETRIED_STATUSES = frozenset({500, 502, 503, 504})

T = TypeVar("T")
R = TypeVar("R")


def retry_policy() -> Retry:
    backoff = settings.EDX_RETRY_BACKOFF
    return Retry(
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


@cache
def _adapter(pool_size: int, retries: int, backoff: float) -> HTTPAdapter:
    return HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retry_policy())


class PooledEdxApi(EdxApi):
    """edx-api-client's EdxApi whose requesters share the process's pool and retries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requesters: dict[str, requests.Session] = {}

    def get_requester(self, token_type: str = "Bearer") -> requests.Session:
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


def edx_client(access_token: str) -> PooledEdxApi:
    return PooledEdxApi(
        {"access_token": access_token},
        base_url=settings.EDXORG_BASE_URL,
        timeout=settings.EDX_REQUEST_TIMEOUT,
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

    def forget(self) -> None:
        """Drop the token (the LMS refused it): the next get asks for a new one."""
        with self._lock:
            self._issuer = None

    def _request(self) -> tuple[str, float]:
        try:
            response = requests.post(
                f"{settings.EDXORG_BASE_URL}oauth2/access_token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.EDXORG_STAFF_CLIENT_ID,
                    "client_secret": settings.EDXORG_STAFF_CLIENT_SECRET,
                    "token_type": "bearer",
                },
                timeout=settings.EDX_REQUEST_TIMEOUT,
            )
        except requests.RequestException as error:
            reason = type(error).__name__
            raise StaffTokenError(f"the LMS token endpoint failed: {reason}") from None
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
