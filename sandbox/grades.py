"""The current grades API: one learner's grade, or a course run's, page by page.

lms/djangoapps/grades/rest_api/v1/views.py (CourseGradesView) and utils.py (GradeViewMixin,
CourseEnrollmentPagination). No throttle: the view sets none and edX's REST_FRAMEWORK
settings name no default throttle class.
"""

from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.answers import (
    AUTHENTICATION_FAILED,
    FORBIDDEN,
    SERVER_ERROR_PAGE,
    Refused,
    Reply,
    Style,
    api_error,
    refused,
)
from sandbox.course_keys import is_course_key
from sandbox.pagination import InvalidCursor, cursor_page, decode_cursor, link

if TYPE_CHECKING:
    from sandbox.server import Sandbox

PAGE_SIZE = 50  # CourseEnrollmentPagination.page_size; ?page_size= is honoured, unbounded
_SERVER_ERROR = Refused(Reply(500, html=SERVER_ERROR_PAGE))


async def course_grades(sandbox: "Sandbox", request: web.Request) -> Reply:
    """GET /api/grades/v1/courses/{course_id}/[?username=U] (or .../courses/?course_id=)."""
    # GradeViewMixin.perform_authentication refuses the anonymous with its own message.
    principal = sandbox.principal(request, Style.DEVELOPER, anonymous=AUTHENTICATION_FAILED)
    username = request.query.get("username")
    # JWT_RESTRICTED_APPLICATION_OR_USER_ACCESS: IsStaff | IsUserInUrl (case-insensitive).
    if not principal.staff and (username or "").lower() != principal.username.lower():
        raise refused(Style.DEVELOPER, 403, FORBIDDEN)
    course_id = request.match_info.get("course_id") or request.query.get("course_id") or ""
    _check_course_exists(sandbox, course_id)
    if username:
        return await _learner_grade(sandbox, username, course_id)
    return await _course_grades(sandbox, request, course_id)


def _check_course_exists(sandbox: "Sandbox", course_id: str) -> None:
    """view_utils.verify_course_exists, before anything else of the view."""
    if course_id in sandbox.lms.course_runs:
        return
    if not is_course_key(course_id):
        message = "The provided course key cannot be parsed."
        raise Refused(Reply(404, api_error(message, "invalid_course_key")))
    message = f"Requested grade for unknown course {course_id}"
    raise Refused(Reply(404, api_error(message, "course_does_not_exist")))


async def _learner_grade(sandbox: "Sandbox", username: str, course_id: str) -> Reply:
    """GradeViewMixin._get_user_or_raise, then CourseGradeFactory.read: any enrollment,
    active or not, has a grade (zero if the learner never started)."""
    if sandbox.lms.learner(username) is None:
        message = "The user matching the requested username does not exist."
        return await sandbox.answer("grades", (), api_error(message, "user_does_not_exist"), 404)
    if sandbox.lms.enrollment(username, course_id) is None:
        message = "The user matching the requested username is not enrolled in this course"
        error = api_error(message, "user_not_enrolled")
        return await sandbox.answer("grades", (username,), error, 404)
    return await sandbox.answer("grades", (username,), [sandbox.lms.own_grade(username, course_id)])


async def _course_grades(sandbox: "Sandbox", request: web.Request, course_id: str) -> Reply:
    """CourseGradesView._get_user_grades: active enrollments by id; a learner whose grade
    read raises is left out of the page (which is then shorter)."""
    size = _page_size(request.query)
    try:
        cursor = decode_cursor(request.query.get("cursor"))
    except InvalidCursor:
        raise refused(Style.DEVELOPER, 404, "Invalid cursor") from None
    # A page size of 0 makes the paginator return None, which the view iterates; a
    # negative slice end is refused by Django's QuerySet: both are server errors.
    if size == 0 or (cursor.offset if cursor else 0) + size + 1 < 0:
        raise _SERVER_ERROR
    try:
        page = cursor_page(sandbox.lms.active_enrollments_in(course_id), cursor, size)
    except ValueError:  # a cursor position that is not an enrollment id
        raise _SERVER_ERROR from None
    rows = page.rows
    faults = sandbox.faults
    if faults.reads_fail("grades"):
        kept = [row for row in rows if not faults.drops("grades", row.username)]
        sandbox.stats.faults["grades"] += len(rows) - len(kept)
        rows = kept
    body = {
        "next": link(request.url, page.next),
        "previous": link(request.url, page.previous),
        "results": [sandbox.lms.listed_grade(row) for row in rows],
    }
    return await sandbox.answer("grades", (), body, listing=True)


def _page_size(query) -> int:
    """CourseEnrollmentPagination.get_page_size: int(page_size), else 50; no maximum."""
    try:
        return int(query["page_size"])
    except (KeyError, ValueError):
        return PAGE_SIZE
