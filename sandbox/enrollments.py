"""The enrollment API: a learner's own enrollments, and the staff listing.

openedx/core/djangoapps/enrollments/views.py. Both views share EnrollmentUserThrottle
(40 a minute for a learner, 120 for staff, one history per user across both), checked
after authentication and permissions, as DRF's APIView.initial does.
"""

import re
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.answers import FORBIDDEN, Refused, Reply, Style, refused, throttled
from sandbox.course_keys import is_course_key
from sandbox.oauth import Principal
from sandbox.pagination import InvalidCursor, cursor_page, decode_cursor, link

if TYPE_CHECKING:
    from sandbox.server import Sandbox

PAGE_SIZE = 100  # CourseEnrollmentsApiListPagination; it takes no page_size parameter
MAX_USERNAME_COUNT = 100  # CourseEnrollmentsApiListForm
# registration_form.validate_username: Django's slug_re, or USERNAME_REGEX_PARTIAL when
# ENABLE_UNICODE_USERNAME is on; with the messages of user_api/accounts/__init__.py.
_ASCII_USERNAME = re.compile(r"^[-a-zA-Z0-9_]+\Z")
_UNICODE_USERNAME = re.compile(r"^[\w .@_+-]+$")
_ASCII_MESSAGE = (
    "Usernames can only contain letters (A-Z, a-z), numerals (0-9), underscores (_), "
    "and hyphens (-)."
)
_UNICODE_MESSAGE = "Usernames can only contain letters, numerals, and @/./+/-/_ characters."


async def own(sandbox: "Sandbox", request: web.Request) -> Reply:
    """GET /api/enrollment/v1/enrollment: EnrollmentListView.get, the requester's active
    enrollments (or, for staff, those of `?user=`); anyone else's come back empty."""
    principal = sandbox.principal(request, Style.DRF)
    _throttle(sandbox, principal, Style.DRF)
    username = request.query.get("user", principal.username)
    if username != principal.username and not principal.staff:
        enrollments = []  # only courses where the requester is course staff: none here
    elif sandbox.lms.learner(username) is None:
        enrollments = []
    else:
        enrollments = sandbox.lms.active_enrollments_of(username)
    return await sandbox.answer("enrollments", (username,), enrollments)


async def one(sandbox: "Sandbox", request: web.Request) -> Reply:
    """GET /api/enrollment/v1/enrollment/{username},{course_id}: EnrollmentView.get. A
    learner's enrollment in one run, active or not (api.get_enrollment); none is a 200
    with no body (Response(None)). Anyone but the learner or staff gets a bare 404."""
    principal = sandbox.principal(request, Style.DRF)
    _throttle(sandbox, principal, Style.DRF)
    username = request.match_info["username"]
    course_id = request.match_info["course_id"]
    if username != principal.username and not principal.staff:
        raise Refused(Reply(404))
    row = sandbox.lms.enrollment(username, course_id)
    body = None if row is None else _serialized(row.record)
    return await sandbox.answer("enrollments", (username,), body)


def _serialized(record: dict) -> dict:
    """CourseEnrollmentSerializer's fields."""
    return {
        key: record.get(key) for key in ("created", "mode", "is_active", "course_details", "user")
    }


async def listing(sandbox: "Sandbox", request: web.Request) -> Reply:
    """GET /api/enrollment/v1/enrollments: CourseEnrollmentsApiListView (IsAdminUser),
    every enrollment (active or not) matching course_id and username, newest first, in
    cursor pages of 100."""
    principal = sandbox.principal(request, Style.DEVELOPER)
    if not principal.staff:
        raise refused(Style.DEVELOPER, 403, FORBIDDEN)
    _throttle(sandbox, principal, Style.DEVELOPER)
    course_id, usernames = _clean_form(sandbox, request.query)
    ordered = sandbox.lms.listed_enrollments(course_id, usernames)
    try:
        cursor = decode_cursor(request.query.get("cursor"))
    except InvalidCursor:
        raise refused(Style.DEVELOPER, 404, "Invalid cursor") from None
    try:
        page = cursor_page(ordered, cursor, PAGE_SIZE)
    except ValueError:  # a position that is not a time: Django's ValidationError
        message = f"“{cursor.position}” value has an invalid format."
        raise refused(Style.DEVELOPER, 400, message) from None
    body = {
        "next": link(request.url, page.next),
        "previous": link(request.url, page.previous),
        "results": [_listed(row) for row in page.rows],
    }
    return await sandbox.answer("enrollments", tuple(usernames), body)


def _throttle(sandbox: "Sandbox", principal: Principal, style: Style) -> None:
    wait = sandbox.throttles.enrollment_wait(principal.throttle_key, principal.staff)
    if wait is not None:
        raise throttled(style, wait)


def _clean_form(sandbox: "Sandbox", query) -> tuple[str | None, list[str]]:
    """CourseEnrollmentsApiListForm: one invalid name fails the whole request (400), as
    does a course id that is not a course key (the data file's runs always are); every
    field's error is reported."""
    errors = {}
    course_id = query.get("course_id") or None
    known = course_id in sandbox.lms.course_runs
    if course_id is not None and not known and not is_course_key(course_id):
        errors["course_id"] = {"developer_message": f"'{course_id}' is not a valid course id."}
    usernames = query["username"].split(",") if query.get("username") else []
    if len(usernames) > MAX_USERNAME_COUNT:
        message = (
            f"Too many usernames in a single request - {len(usernames)}. "
            f"A maximum of {MAX_USERNAME_COUNT} is allowed"
        )
        errors["username"] = {"developer_message": message}
    else:
        rule, message = (
            (_UNICODE_USERNAME, _UNICODE_MESSAGE)
            if sandbox.settings.unicode_usernames
            else (_ASCII_USERNAME, _ASCII_MESSAGE)
        )
        if not all(rule.match(username) for username in usernames):
            errors["username"] = {"developer_message": message}
    if errors:
        raise Refused(Reply(400, {"field_errors": errors}))
    return course_id, usernames


def _listed(row) -> dict:
    """CourseEnrollmentsApiListSerializer's fields."""
    record = row.record
    return {
        "created": record["created"],
        "mode": record["mode"],
        "is_active": record["is_active"],
        "user": row.username,
        "course_id": row.course_id,
    }
