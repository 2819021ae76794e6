"""Workers killed with SIGKILL mid-run: the run is picked up again and completes."""

import random
import time

import pytest

from grades.models import FinalGrade
from tests.conftest import wait_until
from tests.faults.conftest import (
    LEARNERS,
    REFRESHES_IN_FLIGHT,
    assert_end_state,
    is_complete,
    kill_group,
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
    worker = lms.start_worker()
    assert lms.freeze_command().wait(timeout=60) == 0
    dice = random.Random()
    seed = dice.randrange(10**6)
    dice.seed(seed)
    frozen = FinalGrade.objects.filter(course_run=demo_run).count
    killed = 0
    for _ in range(KILLS):
        # Once the new worker is freezing, a random moment within the next 2 s.
        target = frozen() + 1
        wait_until(
            lambda target=target: frozen() >= target or is_complete(demo_run), 300, "progress"
        )
        time.sleep(dice.uniform(0, 2))
        if is_complete(demo_run):
            break
        kill_group(worker)
        killed += 1
        worker = lms.start_worker()
    assert killed >= KILLS - 1, f"the run completed after {killed} kills (seed {seed})"
    wait_for_complete(demo_run)
    failures = assert_end_state(lms, demo_run, dataset)
    lost = lost_grants(failures, dataset)
    assert len(lost) <= killed * REFRESHES_IN_FLIGHT
    print(f"{killed} kills (seed {seed}); {len(lost)} grants lost; {len(failures)} failed")
