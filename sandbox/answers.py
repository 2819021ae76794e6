"""What an endpoint answers, and the error bodies of edX's two kinds of API views.

edX's views either use DeveloperErrorViewMixin (the enrollment listing, grades), whose
errors are `{"developer_message": ..., "error_code": ...}` and whose 429 carries no
Retry-After (openedx/core/lib/api/view_utils.py, Redwood to Teak), or DRF's own exception
handler (the learner's enrollments, certificates, the user API): `{"detail": ...}`, a
WWW-Authenticate header on 401 and Retry-After on 429.
"""

import math
from dataclasses import dataclass, field
from enum import Enum

from sandbox.faults import FaultSpec

NOT_AUTHENTICATED = "Authentication credentials were not provided."
AUTHENTICATION_FAILED = "Incorrect authentication credentials."
FORBIDDEN = "You do not have permission to perform this action."
# The first authentication class of edX's API views is JwtAuthentication (drf-jwt).
WWW_AUTHENTICATE = 'JWT realm="api"'


class Style(Enum):
    DEVELOPER = "DeveloperErrorViewMixin"
    DRF = "DRF exception handler"


@dataclass(frozen=True)
class Reply:
    """An answer before rendering: JSON (`html` instead, or no body when the payload is
    None, as DRF renders Response(status=404)); `fault` replaces it."""

    status: int
    payload: object = None
    fault: FaultSpec | None = None
    headers: dict = field(default_factory=dict)
    html: str | None = None


class Refused(Exception):
    """An answer given before any fault applies: credentials, permissions, limits, input."""

    def __init__(self, reply: Reply, throttled: bool = False) -> None:
        super().__init__(reply.status, reply.payload)
        self.reply = reply
        self.throttled = throttled


def refused(style: Style, status: int, detail, headers: dict | None = None) -> Refused:
    """An APIException's answer in the view's style (detail: a text or edX's error dict)."""
    headers = dict(headers or {})
    if style is Style.DEVELOPER:
        return Refused(Reply(status, {"developer_message": detail}))
    if status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    body = detail if isinstance(detail, dict) else {"detail": detail}
    return Refused(Reply(status, body, headers=headers))


def throttled(style: Style, wait: float) -> Refused:
    """DRF's Throttled: "Expected available in N seconds", N rounded up."""
    seconds = math.ceil(wait)
    unit = "second" if seconds == 1 else "seconds"
    detail = f"Request was throttled. Expected available in {seconds} {unit}."
    headers = {"Retry-After": str(seconds)} if style is Style.DRF else {}
    refusal = refused(style, 429, detail, headers)
    refusal.throttled = True
    return refusal


def api_error(message: str, code: str) -> dict:
    """DeveloperErrorViewMixin.api_error's body."""
    return {"developer_message": message, "error_code": code}


SERVER_ERROR_PAGE = (
    '<!doctype html>\n<html lang="en"><head><title>Server Error (500)</title></head>'
    "<body><h1>Server Error (500)</h1></body></html>\n"
)
FORBIDDEN_PAGE = (
    '<!doctype html>\n<html lang="en"><head><title>403 Forbidden</title></head>'
    "<body><h1>403 Forbidden</h1></body></html>\n"
)
