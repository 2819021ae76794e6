"""edX's answers about one learner in one run, read with their own token (per-learner
mode) or the staff client's (course-wide mode, for whom the listing never showed): the
certificate and the current grade, at the paths edx-api-client reads them. Call on
lms_async's event loop."""

from dashboard.failures import EdxRefreshError, Reason, Stage, no_certificate
from dashboard.lms_async import LearnerToken, get_json
from dashboard.records import EdxJson

CERTIFICATE_PATH = "api/certificates/v0/certificates/{username}/courses/{course_key}/"
CURRENT_GRADE_PATH = "api/grades/v1/courses/{course_key}/"


def _no_grade(body: bytes) -> None:
    """The grade read's 404 (user_not_enrolled, user_does_not_exist): no grade, and so,
    as the enrollment read confirms, not a learner of the run."""
    return None


def _malformed() -> EdxRefreshError:
    return EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE)


async def read_certificate(
    course_key: str, username: str, learner: LearnerToken | None = None
) -> EdxJson | None:
    """The learner's certificate in the run; None only when edX says they have none
    (no_certificate_for_user: another 404 fails the learner with edX's reason)."""
    path = CERTIFICATE_PATH.format(username=username, course_key=course_key)
    certificate = await get_json(None, path, learner=learner, not_found=no_certificate)
    if certificate is not None and not isinstance(certificate, dict):
        raise _malformed()
    return certificate


async def read_current_grade(
    course_key: str, username: str, learner: LearnerToken | None = None
) -> EdxJson | None:
    """The learner's current grade in the run (`?username=`, which answers for any
    enrollment, active or not); None when edX answers 404. edX answers a list of exactly
    one (grades/rest_api/v1/views.py GradeViewMixin._get_single_user_grade); anything
    else is malformed."""
    path = CURRENT_GRADE_PATH.format(course_key=course_key)
    answer = await get_json(
        None, path, {"username": username}, learner=learner, not_found=_no_grade
    )
    if answer is None:
        return None
    if not isinstance(answer, list) or len(answer) != 1 or not isinstance(answer[0], dict):
        raise _malformed()
    return answer[0]
