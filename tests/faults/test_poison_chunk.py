"""Chunks that never finish: one that kills its worker every time it runs, one stuck on an
LMS that never answers. Each is delivered FREEZE_MAX_DELIVERIES times, then given up: its
learners fail (worker_lost), and the round goes on and completes."""

import pytest

from grades.models import Chunk, CourseRunGradingStatus
from tests.faults.conftest import (
    COURSE_WIDE,
    assert_end_state,
    population_dataset,
    revoked,
    wait_for_complete,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

MAX_DELIVERIES = 3  # the default
WORKER_LOST = ("unexpected", "worker_lost", None)


def deliveries(course_run):
    """{chunk index: deliveries} of the run's rounds, and how many rounds there were."""
    grading_status = CourseRunGradingStatus.objects.get(course_run=course_run)
    chunks = Chunk.objects.filter(grading_status=grading_status)
    return {chunk.index: chunk.deliveries for chunk in chunks}, grading_status.round


@pytest.mark.parametrize(
    ("mode", "environment", "chunk_size"),
    [("per-learner", {}, 25), ("course-wide", COURSE_WIDE, 100)],
)
def test_a_chunk_that_kills_its_worker_every_time_is_given_up_and_the_run_completes(
    platform, demo_run, mode, environment, chunk_size
):
    dataset = population_dataset()
    poison = sorted(set(dataset["learners"]) - revoked(dataset))[len(dataset["learners"]) // 2]
    lms = platform(dataset, latency_ms=20)
    lms.start_beat()
    lms.start_worker(app="tests.faults.poison_worker", POISON_USERNAME=poison, **environment)
    assert lms.freeze_command().wait(timeout=60) == 0
    wait_for_complete(demo_run)
    failures = assert_end_state(lms, demo_run, dataset)
    delivered, rounds = deliveries(demo_run)
    [given_up] = [index for index, count in delivered.items() if count > 1]
    lost = {name for name, failure in failures.items() if failure == WORKER_LOST}
    print(
        f"{mode}: the chunk of {poison} killed its worker at each of its "
        f"{delivered[given_up] - 1} deliveries, given up at delivery {delivered[given_up]}: "
        f"{len(lost)} learners failed worker_lost; {len(delivered) - 1} other chunks "
        f"delivered once each; {rounds} round(s)"
    )
    assert delivered[given_up] == MAX_DELIVERIES + 1
    assert poison in lost
    assert len(lost) == chunk_size, "the poison chunk's learners, and only them"
    assert set(failures) - lost <= revoked(dataset)
    assert set(delivered.values()) == {1, MAX_DELIVERIES + 1}, "no other chunk sent twice"
    assert rounds == 1


def test_a_chunk_stuck_on_an_lms_that_never_answers_is_given_up_after_its_time_limits(
    platform, demo_run
):
    dataset = population_dataset(50, revoked=0)
    stuck = sorted(dataset["learners"])[0]
    dataset["learners"][stuck]["faults"] = {"grades": {"timeout": True, "timeout_s": 120}}
    lms = platform(dataset, latency_ms=5)
    lms.start_beat()
    lms.start_worker(
        EDX_REQUEST_TIMEOUT=300, CELERY_TASK_SOFT_TIME_LIMIT=3, CELERY_TASK_TIME_LIMIT=6
    )
    assert lms.freeze_command().wait(timeout=60) == 0
    wait_for_complete(demo_run, timeout=120)
    failures = assert_end_state(lms, demo_run, dataset)
    delivered, rounds = deliveries(demo_run)
    print(
        f"an LMS answer held for 120 s, soft time limit 3 s: deliveries by chunk {delivered}; "
        f"{len(failures)} learners failed worker_lost"
    )
    assert sorted(delivered.values()) == [1, MAX_DELIVERIES + 1]
    assert set(failures.values()) == {WORKER_LOST}
    assert stuck in failures and len(failures) == 25
    assert rounds == 1
