"""Talking to the LMS: the staff client's token, and how a token is sent.

The reads (GETs, with the staff token or a learner's) go over aiohttp: see lms_async.
Token requests (POST) take a slot of the token endpoint's rate limit
(dashboard.rate_limits, shared by all workers), and one the LMS refuses for its rate is
sent again after a backoff (rate_limits.call); otherwise they are never retried once
sent: edX rotates refresh tokens, so a resent refresh could spend a token twice (a
refusal for the rate comes before the grant).
"""

import threading
import time

import requests
from django.conf import settings

from dashboard import rate_limits
from dashboard.failures import Throttled

RETRIED_STATUSES = frozenset({500, 502, 503, 504})


def authorization_scheme(token_type: str | None = None) -> str:
    """How an access token of `token_type` (as the token endpoint named it; default
    EDX_TOKEN_TYPE) is sent: edX takes a JWT as `Authorization: JWT ...`."""
    kind = (token_type or settings.EDX_TOKEN_TYPE).lower()
    return "JWT" if kind == "jwt" else "Bearer"


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
