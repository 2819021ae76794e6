"""grades.heartbeat: a running task beats from a thread until it ends, whatever it does."""

import time

import pytest
from django.db import OperationalError

from grades.heartbeat import beating


@pytest.mark.usefixtures("tasks_on_workers")
def test_a_task_beats_every_interval_while_it_runs_and_not_after(settings):
    settings.FREEZE_HEARTBEAT_SECONDS = 1
    beats = []
    with beating(lambda: beats.append(time.monotonic())):
        time.sleep(2.5)  # a long LMS call: the task itself does nothing
    assert len(beats) == 2
    time.sleep(1.5)
    assert len(beats) == 2


@pytest.mark.usefixtures("tasks_on_workers")
def test_a_beat_that_fails_on_the_database_is_tried_again(settings):
    settings.FREEZE_HEARTBEAT_SECONDS = 1
    beats = []

    def beat():
        beats.append(1)
        if len(beats) == 1:
            raise OperationalError("the database is restarting")

    with beating(beat):
        time.sleep(2.5)
    assert len(beats) == 2


@pytest.mark.usefixtures("in_process_tasks")
def test_a_task_run_in_process_does_not_beat(settings):
    settings.FREEZE_HEARTBEAT_SECONDS = 1
    beats = []
    with beating(lambda: beats.append(1)):
        time.sleep(1.5)
    assert beats == []
