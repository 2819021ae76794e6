"""Two operators start the freeze of one run at the same moment."""

import pytest

from tests.faults.conftest import (
    assert_end_state,
    population_dataset,
    revoked,
    wait_for_complete,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_two_freeze_commands_started_together_freeze_each_learner_once(platform, demo_run):
    dataset = population_dataset()
    lms = platform(dataset, latency_ms=5)
    lms.start_worker()
    commands = [lms.freeze_command(), lms.freeze_command()]
    assert [command.wait(timeout=60) for command in commands] == [0, 0]
    wait_for_complete(demo_run)
    failures = assert_end_state(lms, demo_run, dataset)
    assert set(failures) == revoked(dataset)
    assert demo_run.grading_status.round == 1, "the second freeze must not start a round"
