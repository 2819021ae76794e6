"""Course-wide freezes under faults: workers killed, Redis restarted, the LMS failing.

A course-wide run lists the run's grade pages in one task and freezes each page in
another; whatever is lost, a later round lists the run again and skips who is frozen.
"""

import pytest

from grades.models import CourseRunGradingStatus
from tests.faults.conftest import (
    COURSE_WIDE,
    LEARNERS,
    assert_end_state,
    freeze_through_a_restart,
    kill_repeatedly,
    population_dataset,
    wait_for_complete,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

KILLS = 3


def test_course_wide_workers_killed_again_and_again_leave_each_learner_frozen_once(
    platform, demo_run
):
    dataset = population_dataset(2 * LEARNERS)
    lms = platform(dataset, latency_ms=20)
    lms.start_beat()
    killed, seed = kill_repeatedly(
        lambda: lms.start_worker(**COURSE_WIDE), demo_run, KILLS, lms.freeze_command
    )
    assert killed >= KILLS - 1, f"the run completed after {killed} kills (seed {seed})"
    wait_for_complete(demo_run)
    # Course-wide reads use no learner's token: a revoked one does not matter.
    assert assert_end_state(lms, demo_run, dataset) == {}
    rounds = CourseRunGradingStatus.objects.get(course_run=demo_run).round
    print(f"{killed} kills (seed {seed}); {rounds} rounds; nobody failed")


def test_course_wide_redis_restarted_mid_run_and_the_run_still_completes(
    platform, demo_run, private_redis
):
    dataset = population_dataset()
    lms = platform(dataset, latency_ms=20)
    freeze_through_a_restart(lms, demo_run, dataset, private_redis, **COURSE_WIDE)
    assert assert_end_state(lms, demo_run, dataset) == {}
    rounds = CourseRunGradingStatus.objects.get(course_run=demo_run).round
    print(f"Redis restarted once; {rounds} rounds")
