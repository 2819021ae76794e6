"""Is the LMS wired right? Both OAuth clients tried against it, each problem named.

- The sign-in client (EDXORG_CLIENT_ID/SECRET, authorization code): without a learner
  there is no code to exchange, so the check sends one that cannot exist. oauthlib (DOT,
  edx-platform's token endpoint) checks in this order: the client's id and secret
  (401 invalid_client), whether the client may use the grant (400 unauthorized_client),
  then the code (400 invalid_grant). invalid_grant therefore says the client is right.
- The staff client (EDXORG_STAFF_CLIENT_ID/SECRET, client credentials): a token is asked
  for, then a staff-only endpoint is read with it: the course-wide grades listing, which
  edx-platform refuses (403) to a user without staff rights before it looks at the course.
"""

from dataclasses import dataclass
from enum import IntEnum

import requests
from django.conf import settings

from courses.models import CourseRun

IMPOSSIBLE_CODE = "gradefreeze-connection-check"
# A well-formed key for when the platform knows no run: staff rights are checked before
# the course is, so a 404 for it still proves them.
PROBE_COURSE_KEY = "course-v1:gradefreeze+connection+check"
APPLICATIONS = "the LMS's Django admin, /admin/oauth2_provider/application/"


class Problem(IntEnum):
    """Exit statuses of check_edx_connection: 0 when all is well."""

    LMS_UNREACHABLE = 3
    SIGN_IN_CLIENT_REFUSED = 4
    SIGN_IN_CLIENT_WRONG_GRANT = 5
    STAFF_CLIENT_REFUSED = 6
    STAFF_CLIENT_WRONG_GRANT = 7
    STAFF_CLIENT_NOT_STAFF = 8
    UNEXPECTED_ANSWER = 9


@dataclass(frozen=True)
class Finding:
    """One line of the check: what was found, and the problem, if it is one."""

    text: str
    problem: Problem | None = None


def _token_url() -> str:
    return f"{settings.EDXORG_BASE_URL}oauth2/access_token"


def _oauth_error(answer: requests.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _unreachable(error: requests.RequestException) -> Finding:
    kind = "timed out" if isinstance(error, requests.Timeout) else "could not be reached"
    return Finding(
        f"the LMS at {settings.EDXORG_BASE_URL} {kind} ({type(error).__name__}): "
        "check EDXORG_BASE_URL and that this host can reach it",
        Problem.LMS_UNREACHABLE,
    )


def _unexpected(who: str, answer: requests.Response) -> Finding:
    return Finding(
        f"{who}: the LMS answered {_token_url()} with HTTP {answer.status_code} "
        f"{_oauth_error(answer) or answer.text[:80]!r}, not as an OAuth2 token endpoint: "
        "check EDXORG_BASE_URL",
        Problem.UNEXPECTED_ANSWER,
    )


def check_sign_in_client() -> Finding:
    client_id = settings.SOCIAL_AUTH_EDXORG_KEY
    who = f"sign-in client {client_id!r} (EDXORG_CLIENT_ID)"
    try:
        answer = requests.post(
            _token_url(),
            data={
                "grant_type": "authorization_code",
                "code": IMPOSSIBLE_CODE,
                "redirect_uri": "http://127.0.0.1/complete/edxorg/",
                "client_id": client_id,
                "client_secret": settings.SOCIAL_AUTH_EDXORG_SECRET,
            },
            timeout=settings.EDX_REQUEST_TIMEOUT,
        )
    except requests.RequestException as error:
        return _unreachable(error)
    refusal = _oauth_error(answer)
    if refusal == "invalid_grant":
        return Finding(f"{who}: ok, the LMS knows it and its secret (authorization code)")
    if refusal == "invalid_client":
        return Finding(
            f"{who}: the LMS refuses its id or secret (invalid_client): check "
            f"EDXORG_CLIENT_ID and EDXORG_CLIENT_SECRET against the application in {APPLICATIONS}",
            Problem.SIGN_IN_CLIENT_REFUSED,
        )
    if refusal == "unauthorized_client":
        return Finding(
            f"{who}: the application may not use the authorization-code grant "
            f"(unauthorized_client): set its grant type to 'Authorization code' in {APPLICATIONS}",
            Problem.SIGN_IN_CLIENT_WRONG_GRANT,
        )
    return _unexpected(who, answer)


def _probe_course_key() -> str:
    run = CourseRun.objects.order_by("pk").values_list("edx_course_key", flat=True).first()
    return run or PROBE_COURSE_KEY


def check_staff_client() -> Finding:
    client_id = settings.EDXORG_STAFF_CLIENT_ID
    if not client_id:
        return Finding(
            "staff client: not configured (EDXORG_STAFF_CLIENT_ID unset): "
            "runs are frozen per learner, with each learner's own token"
        )
    who = f"staff client {client_id!r} (EDXORG_STAFF_CLIENT_ID)"
    try:
        answer = requests.post(
            _token_url(),
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": settings.EDXORG_STAFF_CLIENT_SECRET,
                "token_type": "jwt",
            },
            timeout=settings.EDX_REQUEST_TIMEOUT,
        )
    except requests.RequestException as error:
        return _unreachable(error)
    refusal = _oauth_error(answer)
    if refusal == "invalid_client":
        return Finding(
            f"{who}: the LMS refuses its id or secret (invalid_client): check "
            "EDXORG_STAFF_CLIENT_ID and EDXORG_STAFF_CLIENT_SECRET against the application "
            f"in {APPLICATIONS}",
            Problem.STAFF_CLIENT_REFUSED,
        )
    if refusal == "unauthorized_client":
        return Finding(
            f"{who}: the application may not use the client-credentials grant "
            f"(unauthorized_client): set its grant type to 'Client credentials' in {APPLICATIONS}",
            Problem.STAFF_CLIENT_WRONG_GRANT,
        )
    try:
        issued = answer.json() if answer.ok else {}
        token, token_type = str(issued["access_token"]), str(issued.get("token_type", "JWT"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return _unexpected(who, answer)
    course_key = _probe_course_key()
    url = f"{settings.EDXORG_BASE_URL}api/grades/v1/courses/"
    try:
        read = requests.get(
            url,
            params={"course_id": course_key, "page_size": "1"},
            headers={"Authorization": f"{token_type} {token}"},
            timeout=settings.EDX_REQUEST_TIMEOUT,
        )
    except requests.RequestException as error:
        return _unreachable(error)
    if read.status_code == 403:
        return Finding(
            f"{who}: its token works but its user lacks staff rights (HTTP 403 from "
            f"{url}): give the application's user 'Staff status' in the LMS's Django admin, "
            "/admin/auth/user/",
            Problem.STAFF_CLIENT_NOT_STAFF,
        )
    if read.status_code in (200, 404):
        return Finding(f"{who}: ok, a token was issued and it reads the course-wide grades")
    return Finding(
        f"{who}: a token was issued but {url} answered HTTP {read.status_code}",
        Problem.UNEXPECTED_ANSWER,
    )


def check_connection() -> list[Finding]:
    """Both clients' findings; when the LMS cannot be reached, that alone."""
    sign_in = check_sign_in_client()
    if sign_in.problem == Problem.LMS_UNREACHABLE:
        return [sign_in]
    return [sign_in, check_staff_client()]
