"""Reading learners from the LMS one by one, each with their own token (per-learner mode).

Each learner's token is made fresh first, then their enrollments, certificates and
current grades are read through edx-api-client; many learners are in flight at once.
Nothing is cached here: the caller stores what was read.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib.auth.models import User
from social_django.models import UserSocialAuth

from courses.models import CourseRun
from dashboard.cache import check_storable
from dashboard.failures import (
    EdxRefreshError,
    Reason,
    Stage,
    edx_errors,
    learner_error,
    no_certificate,
)
from dashboard.lms_client import edx_client
from dashboard.records import EdxJson, GradeData, LearnerRead, LearnersRead
from dashboard.token_refresh import edx_links, refresh_tokens


def _fetch_or_none(fetch: Callable[[], Any]) -> EdxJson | None:
    """edX's JSON for one object, or None when edX answers 404."""
    try:
        with edx_errors():
            return fetch().json
    except EdxRefreshError as error:
        if error.http_status == 404:
            return None
        raise


def _certificate_or_none(edx: Any, username: str, course_key: str) -> EdxJson | None:
    """The learner's certificate in the run; None only when edX says they have none."""
    try:
        with edx_errors():
            return edx.certificates.get_student_certificate(username, course_key).json
    except EdxRefreshError as error:
        answer = getattr(error.__cause__, "response", None)
        if error.http_status == 404 and answer is not None:
            no_certificate(answer.content)
            return None
        raise


def fetch_grade_data(edx: Any, username: str, course_key: str) -> GradeData:
    """The learner's certificate and current grade in one run, as edX answers them."""
    return GradeData(
        certificate=_certificate_or_none(edx, username, course_key),
        current_grade=_fetch_or_none(
            lambda: edx.current_grades.get_student_current_grade(username, course_key)
        ),
    )


def _fetch_enrollments(edx: Any) -> dict[str, EdxJson]:
    """The learner's enrollments as edX's JSON, keyed by course key."""
    with edx_errors():
        enrollments = edx.enrollments.get_student_enrollments()
        return {
            key: enrollments.get_enrollment_for_course(key).json
            for key in enrollments.get_enrolled_course_ids()
        }


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
        edx = edx_client(link.extra_data["access_token"], link.extra_data.get("token_type"))
        enrollments = _fetch_enrollments(edx)
        enrolled = [known_runs[key] for key in enrollments if key in known_runs]
        runs = enrolled if course_runs is None else course_runs
        return check_storable(
            LearnerRead(
                user_id=link.user_id,
                enrollments={run.pk: enrollments[run.edx_course_key] for run in enrolled},
                grades={
                    run.pk: fetch_grade_data(edx, link.uid, run.edx_course_key) for run in runs
                },
            )
        )

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
