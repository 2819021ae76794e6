"""What a learner's sign-in changes to the freeze of their runs (grades.api verbs)."""

import pytest
from django.utils import timezone

from dashboard.failures import Reason, Stage
from grades import api
from grades.models import CourseRunGradingStatus
from grades.selectors import learners_left
from tests.factories import (
    CachedCurrentGradeFactory,
    CachedEnrollmentFactory,
    CourseRunGradingStatusFactory,
    FreezeFailureFactory,
)

pytestmark = pytest.mark.django_db


def refused(grading_status):
    return FreezeFailureFactory(
        grading_status=grading_status,
        stage=Stage.TOKEN_REFRESH,
        reason=Reason.REAUTHENTICATION_REQUIRED,
        http_status=400,
    )


def in_population(failure):
    run = failure.grading_status.course_run
    CachedEnrollmentFactory(user=failure.user, course_run=run)
    CachedCurrentGradeFactory(user=failure.user, course_run=run)


def test_signing_in_again_makes_a_refused_learner_of_a_pending_run_left_for_its_next_round():
    failure = refused(CourseRunGradingStatusFactory())
    in_population(failure)
    grading_status = failure.grading_status
    assert failure.user not in learners_left(grading_status.course_run, grading_status)

    assert api.release_refused_tokens(failure.user) == 1

    assert failure.user in learners_left(grading_status.course_run, grading_status)


def test_a_refused_learner_of_a_complete_run_stays_failed_for_retry_failed_final_grades():
    failure = refused(
        CourseRunGradingStatusFactory(
            status=CourseRunGradingStatus.COMPLETE, completed_on=timezone.now()
        )
    )

    assert api.release_refused_tokens(failure.user) == 0

    assert list(api.refused_token_failures(failure.user)) == [failure]


def test_other_failures_of_the_learner_are_not_released():
    failure = FreezeFailureFactory()

    assert api.release_refused_tokens(failure.user) == 0
    assert failure.grading_status.failures.count() == 1
