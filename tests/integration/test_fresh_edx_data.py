"""Fresh edX data on real workers: a learner who enrolled after their last refresh ends up
in the freeze's population, through the periodic refresh or the freeze's own."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from bench.processes import wait_until
from dashboard.models import CachedCurrentGrade, CachedEnrollment, LearnerRefresh
from grades import api
from grades.models import CourseRunGradingStatus, FinalGrade
from grades.tasks import freeze_course_run
from learners.tasks import refresh_edx_caches
from tests.factories import CourseRunGradingStatusFactory
from tests.integration.conftest import (
    wait_for_state,
)

pytestmark = pytest.mark.integration


def enrolled_since_last_refresh(username, course_run):
    """The platform's cache as it was before the learner enrolled: no enrollment or grade
    in the run, read two days ago (the sandbox serves them enrolled)."""
    learner = User.objects.get(username=username)
    CachedEnrollment.objects.filter(user=learner, course_run=course_run).delete()
    CachedCurrentGrade.objects.filter(user=learner, course_run=course_run).delete()
    LearnerRefresh.objects.filter(user=learner).update(
        enrollments_refreshed_on=timezone.now() - timezone.timedelta(days=2)
    )
    return learner


def test_the_periodic_refresh_brings_a_new_enrollment_into_the_population(
    seeded, start_sandbox, start_worker, demo_run
):
    dataset = seeded(learners=5)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    learner = enrolled_since_last_refresh("learner00005", demo_run)
    assert api.freeze_status(demo_run).needed == 4

    assert refresh_edx_caches.delay() is not None
    wait_until(
        lambda: CachedEnrollment.objects.filter(user=learner, course_run=demo_run).exists(),
        60,
        "the periodic refresh to read the new enrollment",
    )

    assert api.freeze_status(demo_run).needed == 5
    refreshed = LearnerRefresh.objects.get(user=learner).enrollments_refreshed_on
    assert refreshed > timezone.now() - timezone.timedelta(minutes=5)
    api.start_freeze(demo_run, lambda run: freeze_course_run.delay(run.pk))
    status = wait_for_state(demo_run, api.FreezeState.COMPLETE)
    assert (status.frozen, status.needed) == (5, 5)
    assert FinalGrade.objects.filter(user=learner, course_run=demo_run).exists()


def test_a_freeze_reads_stale_learners_again_before_it_takes_its_population(
    seeded, start_sandbox, start_worker, demo_run
):
    dataset = seeded(learners=5)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    learner = enrolled_since_last_refresh("learner00002", demo_run)

    api.start_freeze(demo_run, lambda run: freeze_course_run.delay(run.pk))

    status = wait_for_state(demo_run, api.FreezeState.COMPLETE)
    assert (status.frozen, status.failed, status.needed) == (5, 0, 5)
    assert FinalGrade.objects.filter(user=learner, course_run=demo_run).exists()
    assert CourseRunGradingStatus.objects.get(course_run=demo_run).round == 1  # in the first


def test_a_freeze_under_way_does_not_read_the_stale_learners_again_at_each_round(
    seeded, start_sandbox, demo_run
):
    """The orchestrator runs at each round's end and on every beat while a run is
    pending; a learner whose read fails stays stale, so only the first round reads the
    stale ones (each read of a learner is a token grant, 120 a minute on edX)."""
    dataset = seeded(learners=3)
    sandbox = start_sandbox(dataset)
    enrolled_since_last_refresh("learner00002", demo_run)
    status = CourseRunGradingStatusFactory(course_run=demo_run)

    assert api.refresh_stale_population(demo_run) == (0, 0)
    assert sandbox.stats()["requests"].get("token", 0) == 0

    status.delete()
    assert api.refresh_stale_population(demo_run) == (1, 0)
    assert sandbox.stats()["requests"]["token"] == 1
