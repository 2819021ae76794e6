"""Workers killed with SIGKILL mid-run: the run is picked up again and completes."""

import time

import pytest

from bench.processes import wait_until
from grades import rounds
from grades.models import Chunk, CourseRunGradingStatus
from tests.faults.conftest import (
    FREEZE_ENV,
    LEARNERS,
    REFRESHES_IN_FLIGHT,
    WORKER_CONCURRENCY,
    assert_end_state,
    kill_group,
    kill_repeatedly,
    lost_grants,
    population_dataset,
    wait_for_complete,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

KILLS = 4


def test_a_worker_killed_again_and_again_leaves_each_learner_frozen_once_or_failed(
    platform, demo_run
):
    dataset = population_dataset(2 * LEARNERS)  # long enough a run for every kill to land
    lms = platform(dataset, latency_ms=20)
    lms.start_beat()
    killed, seed = kill_repeatedly(lms.start_worker, demo_run, KILLS, lms.freeze_command)
    assert killed >= KILLS - 1, f"the run completed after {killed} kills (seed {seed})"
    wait_for_complete(demo_run)
    failures = assert_end_state(lms, demo_run, dataset)
    lost = lost_grants(failures, dataset)
    print(
        f"{killed} kills of {WORKER_CONCURRENCY} worker processes (seed {seed}): "
        f"{len(lost)} grants lost, {len(lost) / (killed * WORKER_CONCURRENCY):.2f} per "
        f"killed process; {len(failures)} failed"
    )
    assert len(lost) <= killed * REFRESHES_IN_FLIGHT


def test_chunks_whose_worker_died_are_noticed_by_their_silent_heartbeat_within_a_minute(
    platform, demo_run, settings
):
    """Four chunks, one per worker process, none left in the queue: their worker killed,
    nothing redelivers them (Redis keeps their messages for its visibility timeout). With
    the default heartbeat, they are noticed once silent for 30 s, and the periodic task
    sends their learners again in a new round."""
    heartbeat = {"FREEZE_HEARTBEAT_SECONDS": 10}
    settings.FREEZE_HEARTBEAT_SECONDS = 10
    dataset = population_dataset(100, revoked=0)
    lms = platform(dataset, latency_ms=200)
    worker = lms.start_worker(**heartbeat)
    assert lms.freeze_command().wait(timeout=60) == 0
    running = Chunk.objects.filter(
        grading_status__course_run=demo_run, finished_on__isnull=True
    ).count
    wait_until(lambda: running() == WORKER_CONCURRENCY, 60, "every chunk to be running")
    kill_group(worker)
    killed_at = time.monotonic()
    lms.start_beat(**heartbeat)
    lms.start_worker(**heartbeat)
    grading_status = CourseRunGradingStatus.objects.get(course_run=demo_run)
    wait_until(
        lambda: rounds.round_chunks(grading_status).silent == WORKER_CONCURRENCY,
        60,
        "the dead chunks to be noticed",
    )
    noticed = time.monotonic() - killed_at
    wait_until(
        lambda: CourseRunGradingStatus.objects.get(pk=grading_status.pk).round == 2,
        60,
        "a new round",
    )
    picked_up = time.monotonic() - killed_at
    wait_for_complete(demo_run)
    assert assert_end_state(lms, demo_run, dataset) == {}
    print(
        f"{WORKER_CONCURRENCY} chunks killed with their worker: noticed dead after "
        f"{noticed:.1f} s (heartbeat every 10 s, dead after 30 s of silence), their "
        f"learners sent again in round 2 after {picked_up:.1f} s (beat every "
        f"{FREEZE_ENV['FREEZE_SCHEDULE_SECONDS']} s)"
    )
    assert noticed < 40
    assert picked_up < 60
