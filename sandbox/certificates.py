"""GET /api/certificates/v0/certificates/{username}/courses/{course_id}/.

lms/djangoapps/certificates/apis/v0/views.py, CertificatesDetailView, over
certificates/api.py (get_certificate_for_user, format_certificate_for_user). A plain DRF
view: errors are `{"detail": ...}`, its 404s only `{"error_code": ...}`. No throttle.
"""

import hashlib
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.answers import FORBIDDEN, Refused, Reply, Style, refused
from sandbox.course_keys import is_course_key

if TYPE_CHECKING:
    from sandbox.server import Sandbox

PASSED_STATUSES = ("downloadable", "generating")  # certificates/data.py, CertificateStatuses


async def detail(sandbox: "Sandbox", request: web.Request) -> Reply:
    principal = sandbox.principal(request, Style.DRF)
    username, course_id = request.match_info["username"], request.match_info["course_id"]
    # JWT_RESTRICTED_APPLICATION_OR_USER_ACCESS: IsStaff | IsUserInUrl (case-insensitive).
    if not principal.staff and username.lower() != principal.username.lower():
        raise refused(Style.DRF, 403, FORBIDDEN)
    if course_id not in sandbox.lms.course_runs and not is_course_key(course_id):
        raise Refused(Reply(404, {"error_code": "course_id_not_valid"}))
    record = sandbox.lms.certificate(username, course_id)
    if record is None:
        return await sandbox.answer("certificates", (username,), _no("certificate_for_user"), 404)
    pdf = bool(record["download_url"])
    if not pdf and course_id in sandbox.lms.certificates_unconfigured:
        # A web certificate needs the run's active certificate configuration.
        error = _no("certificate_configuration_for_course")
        return await sandbox.answer("certificates", (username,), error, 404)
    return await sandbox.answer("certificates", (username,), served(record))


def served(record: dict) -> dict:
    """The view's answer: created_date (older data files say `created`), is_passing from
    the status, a download URL only when downloadable (a web certificate's own page when
    there is no PDF)."""
    status = record["status"]
    download_url = None
    if status == "downloadable":
        download_url = record["download_url"] or f"/certificates/{_verify_uuid(record)}"
    grade = record["grade"]
    return {
        "username": record["username"],
        "course_id": record["course_id"],
        "certificate_type": record["certificate_type"],
        "created_date": record.get("created_date", record.get("created")),
        "status": status,
        "is_passing": status in PASSED_STATUSES,
        "download_url": download_url,
        "grade": grade if isinstance(grade, str) else str(grade),
    }


def _no(what: str) -> dict:
    return {"error_code": f"no_{what}"}


def _verify_uuid(record: dict) -> str:
    return hashlib.md5(f"{record['username']}:{record['course_id']}".encode()).hexdigest()
