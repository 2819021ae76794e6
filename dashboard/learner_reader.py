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
from dashboard.failures import EdxRefreshError, Reason, Stage, learner_error
from dashboard.learner_endpoints import read_certificate, read_current_grade
from dashboard.lms_async import LearnerToken, get_json, run
from dashboard.records import EdxJson, GradeData, LearnerRead, LearnersRead
from dashboard.token_refresh import edx_links, refresh_tokens

# edx-api-client's path (CourseEnrollments.enrollment_url): a learner's own enrollments.
OWN_ENROLLMENTS_PATH = "api/enrollment/v1/enrollment"


async def fetch_grade_data(learner: LearnerToken, username: str, course_key: str) -> GradeData:
    """The learner's certificate and current grade in one run, as edX answers them.

    One after the other: the many learners in flight keep the LMS busy, and a learner's
    requests in a row keep the concurrency-1 benchmark the original design it measures.
    """
    certificate = await read_certificate(course_key, username, learner)
    return GradeData(
        certificate=certificate,
        current_grade=await read_current_grade(course_key, username, learner),
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
