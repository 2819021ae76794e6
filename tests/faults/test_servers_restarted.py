"""Redis and PostgreSQL restarted mid-run: the workers and beat reconnect and it completes."""

import pytest

from grades.models import CourseRunGradingStatus
from tests.faults.conftest import (
    assert_end_state,
    freeze_through_a_restart,
    lost_grants,
    population_dataset,
    revoked,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_redis_restarted_mid_run_loses_the_queued_chunks_and_the_run_still_completes(
    platform, demo_run, private_redis
):
    dataset = population_dataset()
    lms = platform(dataset, latency_ms=5)
    freeze_through_a_restart(lms, demo_run, dataset, private_redis)
    assert set(assert_end_state(lms, demo_run, dataset)) == revoked(dataset)
    rounds = CourseRunGradingStatus.objects.get(course_run=demo_run).round
    assert rounds >= 2, "the periodic task sends the chunks Redis lost again, as a new round"
    print(f"Redis restarted once; {rounds} rounds")


def test_postgresql_restarted_mid_run_and_the_run_still_completes(
    platform, demo_run, private_postgres
):
    dataset = population_dataset()
    lms = platform(dataset, latency_ms=5)
    freeze_through_a_restart(lms, demo_run, dataset, private_postgres)
    failures = assert_end_state(lms, demo_run, dataset)
    lost = lost_grants(failures, dataset)
    print(f"PostgreSQL restarted once (3 s down); {len(lost)} grants lost; {len(failures)} failed")
    assert lost == {}, "the pairs in flight are saved once the database is back"
