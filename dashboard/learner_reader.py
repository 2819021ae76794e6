"""Reading learners from the LMS one by one, each with their own token (per-learner mode).

Each learner's token is made fresh first (token_refresh, in a thread), then their
enrollments, certificates and current grades are read on lms_async's event loop at the
URLs edx-api-client reads them (its CPU per request was this mode's bottleneck: see
lms_async); many learners are in flight at once. Nothing is cached here: the caller
stores what was read.
"""

from collections.abc import Iterable, Sequence

from django.contrib.auth.models import User
from social_django.models import UserSocialAuth

from courses.models import CourseRun
from dashboard.cache import check_storable
from dashboard.failures import EdxRefreshError, Reason, Stage, learner_error, no_certificate
from dashboard.lms_async import LearnerToken, get_json, run
from dashboard.records import EdxJson, GradeData, LearnerRead, LearnersRead
from dashboard.token_refresh import edx_links, refresh_tokens

# edx-api-client's paths (CourseEnrollments.enrollment_url, UserCertificates and
# CurrentGrades' get_student_*): what edX serves a learner about themselves.
OWN_ENROLLMENTS_PATH = "api/enrollment/v1/enrollment"
CERTIFICATE_PATH = "api/certificates/v0/certificates/{username}/courses/{course_key}/"
CURRENT_GRADE_PATH = "api/grades/v1/courses/{course_key}/"


def _no_grade(body: bytes) -> None:
    """The grade read's 404 (user_not_enrolled, user_does_not_exist): no grade."""
    return None


async def _current_grade(learner: LearnerToken, username: str, course_key: str) -> EdxJson | None:
    """The learner's current grade in the run; None when edX answers 404. edX answers a
    list of one, as edx-api-client reads it (`resp.json()[0]`)."""
    path = CURRENT_GRADE_PATH.format(course_key=course_key)
    answer = await get_json(
        None, path, {"username": username}, learner=learner, not_found=_no_grade
    )
    if answer is None:
        return None
    grade = answer[0]
    if not isinstance(grade, dict):
        raise EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE)
    return grade


async def _certificate(learner: LearnerToken, username: str, course_key: str) -> EdxJson | None:
    """The learner's certificate in the run; None only when edX says they have none."""
    path = CERTIFICATE_PATH.format(username=username, course_key=course_key)
    certificate = await get_json(None, path, learner=learner, not_found=no_certificate)
    if certificate is not None and not isinstance(certificate, dict):
        raise EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE)
    return certificate


async def fetch_grade_data(learner: LearnerToken, username: str, course_key: str) -> GradeData:
    """The learner's certificate and current grade in one run, as edX answers them.

    One after the other: the many learners in flight keep the LMS busy, and a learner's
    requests in a row keep the concurrency-1 benchmark the original design it measures.
    """
    certificate = await _certificate(learner, username, course_key)
    return GradeData(
        certificate=certificate, current_grade=await _current_grade(learner, username, course_key)
    )


async def _enrollments(learner: LearnerToken) -> dict[str, EdxJson]:
    """The learner's enrollments as edX's JSON, keyed by course key (as edx-api-client's
    Enrollments keys them: the last one of a course wins)."""
    answer = await get_json(None, OWN_ENROLLMENTS_PATH, learner=learner)
    if not isinstance(answer, list):
        raise EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE)
    enrollments = {}
    for enrollment in answer:
        try:
            enrollments[enrollment["course_details"]["course_id"]] = enrollment
        except (KeyError, TypeError):
            raise EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE) from None
    return enrollments


async def _read_learner(
    link: UserSocialAuth,
    known_runs: dict[str, CourseRun],
    course_runs: Sequence[CourseRun] | None,
) -> LearnerRead:
    learner = LearnerToken(link.extra_data["access_token"], link.extra_data.get("token_type"))
    enrollments = await _enrollments(learner)
    enrolled = [known_runs[key] for key in enrollments if key in known_runs]
    runs = enrolled if course_runs is None else list(course_runs)
    grades = [await fetch_grade_data(learner, link.uid, run.edx_course_key) for run in runs]
    return LearnerRead(
        user_id=link.user_id,
        enrollments={run.pk: enrollments[run.edx_course_key] for run in enrolled},
        grades={run.pk: grade for run, grade in zip(runs, grades, strict=True)},
    )


def read_learners(
    users: Iterable[User], course_runs: Sequence[CourseRun] | None = None
) -> LearnersRead:
    """Read each learner's enrollments, then the certificates and current grades of
    `course_runs` (default: every known run the learner is enrolled in), with up to
    FREEZE_LEARNER_CONCURRENCY learners in flight; a read or a failure for each.
    """
    users = list(users)
    links = edx_links(users)
    errors = {
        user.pk: EdxRefreshError(Stage.TOKEN_REFRESH, Reason.NO_EDX_LINK)
        for user in users
        if user.pk not in links
    }
    known_runs = {run.edx_course_key: run for run in CourseRun.objects.all()}

    def read(link: UserSocialAuth) -> LearnerRead:
        """In the learner's thread, once their token is fresh: waits for the reads."""
        return check_storable(run(_read_learner(link, known_runs, course_runs)))

    _, token_errors, outcomes = refresh_tokens(links, then=read)
    errors.update(token_errors)
    reads = {}
    for user_id, answer in outcomes.items():
        if user_id in errors:
            continue
        if isinstance(answer, Exception):
            errors[user_id] = learner_error(answer)
        else:
            reads[user_id] = answer
    return LearnersRead(reads=reads, errors=errors)
