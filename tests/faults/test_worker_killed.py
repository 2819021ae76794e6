"""Workers killed with SIGKILL mid-run: the run is picked up again and completes."""

import pytest

from tests.faults.conftest import (
    LEARNERS,
    REFRESHES_IN_FLIGHT,
    WORKER_CONCURRENCY,
    assert_end_state,
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
