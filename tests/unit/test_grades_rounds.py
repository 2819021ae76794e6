"""Rounds of a run's freeze: stale chunks do nothing, a re-run completes what is pending,
running chunks are told from dead ones by their heartbeat and from queued ones by the
broker, and every delivery of a chunk is counted."""

import contextlib
import threading
import uuid

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from kombu import Queue

from demo.api import seed_course_run, seed_learners
from gradefreeze.celery import app as celery_app
from grades import api, rounds, selectors, tasks
from grades.models import Chunk, CourseRunGradingStatus, FinalGrade, FreezeFailure
from sandbox.dataset import generate

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "course-v1:MITx+Rounds+1T2026"


@pytest.fixture
def course_run():
    return seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))


@pytest.fixture
def learners(course_run, start_sandbox):
    dataset = generate(learners=6, course_keys=(KEY,), revoked=0)
    seed_learners(dataset)
    return start_sandbox(dataset)


@pytest.fixture
def broker_queue(tasks_on_workers):
    """Tasks go to a queue of this test's own; `broker_queue()` puts a message in it,
    as a chunk waiting for a worker."""
    name = f"gradefreeze-rounds-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    with celery_app.connection_for_write() as broker:
        queue = Queue(name, channel=broker.default_channel)

        def put_message():
            broker.Producer().publish({"a": "chunk"}, routing_key=name, declare=[queue])

        yield put_message
        queue.purge()
    celery_app.conf.task_default_queue = previous


@contextlib.contextmanager
def retried_in_process():
    """In-process, a task that asks to be retried runs again at once, unless its
    exceptions propagate (then the retry itself is raised)."""
    previous = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        celery_app.conf.task_eager_propagates = previous


def status_exit_code(capsys):
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", KEY)
    return exit_status.value.code, capsys.readouterr().out


def pending_round(course_run, **fields):
    """A pending per-learner round, started long enough ago to have reached the broker."""
    fields = {
        "round": 1,
        "round_started_on": timezone.now() - timezone.timedelta(hours=1),
        **fields,
    }
    return CourseRunGradingStatus.objects.create(course_run=course_run, **fields)


def chunk(grading_status, index=0, silent_seconds=0, **fields):
    """A chunk delivered once, whose last heartbeat was `silent_seconds` ago."""
    beat_on = timezone.now() - timezone.timedelta(seconds=silent_seconds)
    fields = {"deliveries": 1, "beat_on": beat_on, **fields}
    return Chunk.objects.create(
        grading_status=grading_status, round=grading_status.round, index=index, **fields
    )


def silent_for_too_long():
    return rounds.heartbeat_timeout().total_seconds() + 1


def population_ids(course_run):
    return list(selectors.population(course_run).order_by("id").values_list("id", flat=True))


# Stale chunks, and runs finished by a new freeze


@pytest.mark.usefixtures("in_process_tasks")
def test_a_chunk_of_a_round_that_is_no_longer_current_does_nothing(course_run, learners):
    grading_status = pending_round(course_run, chunks_total=1, round=2)
    assert tasks.freeze_chunk.delay(grading_status.pk, 1, 0, population_ids(course_run)).get() == (
        "stale"
    )
    assert not FinalGrade.objects.exists()
    assert CourseRunGradingStatus.objects.get().chunks_done == 0


@pytest.mark.usefixtures("in_process_tasks")
def test_a_chunk_of_a_reverted_run_does_nothing(course_run, learners):
    grading_status = pending_round(course_run, chunks_total=1)
    user_ids = population_ids(course_run)
    api.revert_freeze(course_run)
    assert tasks.freeze_chunk.delay(grading_status.pk, 1, 0, user_ids).get() == "stale"
    assert not FinalGrade.objects.exists()


@pytest.mark.usefixtures("in_process_tasks")
def test_a_run_not_due_is_not_frozen_by_the_task(course_run, learners):
    course_run.freeze_grade_date = timezone.now() + timezone.timedelta(days=1)
    course_run.save()
    assert tasks.freeze_course_run.delay(course_run.pk).get() == "not_due"
    assert not CourseRunGradingStatus.objects.exists()


@pytest.mark.usefixtures("in_process_tasks")
def test_done_but_not_marked_exits_5_and_a_new_freeze_completes_it(course_run, learners, capsys):
    call_command("freeze_final_grades", KEY)
    CourseRunGradingStatus.objects.update(status="pending", completed_on=None)
    code, out = status_exit_code(capsys)
    assert code == 5
    assert "done but not marked complete" in out
    call_command("freeze_final_grades", KEY)
    code, out = status_exit_code(capsys)
    assert code == 0
    assert "frozen:  6" in out


@pytest.mark.usefixtures("in_process_tasks")
def test_an_interrupted_in_process_freeze_is_stalled_not_running(course_run, learners, capsys):
    chunk(pending_round(course_run, chunks_total=2, chunks_done=1))
    code, out = status_exit_code(capsys)
    assert code == 6
    call_command("freeze_final_grades", KEY)
    assert FinalGrade.objects.count() == 6


# Running, dead, queued: heartbeats and the broker


@pytest.mark.usefixtures("broker_queue")
def test_a_round_whose_chunk_beats_is_being_processed(course_run, learners, capsys):
    chunk(pending_round(course_run, chunks_total=1), silent_seconds=1)
    code, out = status_exit_code(capsys)
    assert code == 4
    assert "chunks:  0 of 1 done, 1 running" in out
    assert api.freeze_course_run(course_run, pytest.fail) == "in_progress"


@pytest.mark.usefixtures("broker_queue")
def test_a_chunk_silent_for_three_heartbeats_is_lost_and_a_new_round_takes_its_learners(
    course_run, learners, capsys, django_capture_on_commit_callbacks
):
    grading_status = pending_round(course_run, chunks_total=2, chunks_done=1)
    chunk(grading_status, silent_seconds=silent_for_too_long())
    code, out = status_exit_code(capsys)
    assert code == 6
    assert "1 lost (no heartbeat for 30 s: their worker died)" in out
    assert "left:    6" in out
    sent = []
    with django_capture_on_commit_callbacks(execute=True):
        assert api.freeze_course_run(course_run, sent.append) == "dispatched"
    assert [(freeze_round.number, len(freeze_round.chunks)) for freeze_round in sent] == [(2, 1)]


def test_chunks_queued_behind_other_work_are_never_sent_again_however_long_they_wait(
    course_run, learners, capsys, broker_queue
):
    pending_round(course_run, chunks_total=3)  # none delivered, started an hour ago
    broker_queue()
    code, out = status_exit_code(capsys)
    assert code == 4
    assert "3 not started" in out
    assert api.freeze_course_run(course_run, pytest.fail) == "in_progress"


@pytest.mark.usefixtures("broker_queue")
def test_chunks_never_delivered_while_the_queue_is_empty_are_lost_with_the_broker(
    course_run, learners, capsys
):
    pending_round(course_run, chunks_total=3)
    code, out = status_exit_code(capsys)
    assert code == 6
    assert "3 not started" in out


@pytest.mark.usefixtures("broker_queue")
def test_a_round_just_started_is_in_flight_before_its_messages_reach_the_broker(course_run):
    grading_status = pending_round(course_run, chunks_total=3, round_started_on=timezone.now())
    assert rounds.chunks_in_flight(grading_status)


@pytest.mark.usefixtures("broker_queue")
@pytest.mark.parametrize(("silent", "in_flight"), [(False, True), (True, False)])
def test_a_course_wide_listing_keeps_its_round_in_flight_while_it_beats(
    course_run, silent, in_flight
):
    seconds = silent_for_too_long() if silent else 0
    grading_status = pending_round(
        course_run,
        listed=False,
        listing_beat_on=timezone.now() - timezone.timedelta(seconds=seconds),
    )
    assert rounds.chunks_in_flight(grading_status) is in_flight


@pytest.mark.usefixtures("broker_queue")
def test_a_heartbeat_keeps_a_chunk_running(course_run):
    grading_status = pending_round(course_run, chunks_total=1)
    silent = chunk(grading_status, silent_seconds=silent_for_too_long())
    assert not rounds.chunks_in_flight(grading_status)
    rounds.beat_chunk(silent.pk)
    assert rounds.round_chunks(grading_status).running == 1
    assert rounds.chunks_in_flight(grading_status)


# Deliveries


def test_a_chunk_finished_twice_is_counted_once(course_run):
    grading_status = pending_round(course_run, chunks_total=2)
    assert rounds.finish_chunk(grading_status, 1, 0) is False
    assert rounds.finish_chunk(grading_status, 1, 0) is False
    assert CourseRunGradingStatus.objects.get().chunks_done == 1
    assert rounds.finish_chunk(grading_status, 1, 1) is True


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's shared in-memory test database fails concurrent writers instead of waiting",
)
def test_deliveries_of_one_chunk_at_the_same_moment_are_each_counted(course_run):
    grading_status = pending_round(course_run, chunks_total=1)
    numbers = []

    def deliver():
        try:
            numbers.append(rounds.deliver_chunk(grading_status, 1, 0).number)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(numbers) == [1, 2, 3, 4]
    assert Chunk.objects.get().deliveries == 4


@pytest.mark.usefixtures("in_process_tasks")
def test_a_chunk_delivered_again_after_it_finished_does_nothing(course_run, learners):
    grading_status = pending_round(course_run, chunks_total=2)
    rounds.finish_chunk(grading_status, 1, 0)
    assert tasks.freeze_chunk.delay(grading_status.pk, 1, 0, population_ids(course_run)).get() == (
        "finished before"
    )
    assert not FinalGrade.objects.exists()


@pytest.mark.usefixtures("in_process_tasks")
def test_a_chunk_delivered_past_the_maximum_fails_its_learners_and_the_round_goes_on(
    course_run, learners, settings
):
    """Its worker died at each of the FREEZE_MAX_DELIVERIES deliveries before."""
    user_ids = population_ids(course_run)
    grading_status = pending_round(course_run, chunks_total=2)
    chunk(grading_status, index=0, deliveries=settings.FREEZE_MAX_DELIVERIES)
    FinalGrade.objects.create(
        user_id=user_ids[0], course_run=course_run, grade=1, passed=True, paid=True
    )
    outcome = tasks.freeze_chunk.delay(grading_status.pk, 1, 0, user_ids[:4]).get()
    assert outcome == {"frozen": 0, "failed": 3}
    assert set(FreezeFailure.objects.values_list("user_id", "stage", "reason")) == {
        (user_id, "unexpected", "worker_lost") for user_id in user_ids[1:4]
    }
    assert learners.stats()["requests"].get("token", 0) == 0, "a chunk given up reads nothing"
    assert CourseRunGradingStatus.objects.get().chunks_done == 1
    tasks.freeze_chunk.delay(grading_status.pk, 1, 1, user_ids[4:]).get()
    status = api.freeze_status(course_run)
    assert (status.state, status.frozen, status.failed) == ("complete", 3, 3)


@pytest.mark.usefixtures("in_process_tasks")
def test_a_chunk_past_its_soft_time_limit_writes_nothing_and_is_delivered_until_given_up(
    course_run, learners, settings
):
    """The soft time limit is an exception raised wherever the chunk is: here, inside
    its transaction, once its final grades are written and before their audit, at
    every delivery."""
    settings.FREEZE_MAX_DELIVERIES = 2
    interrupted = []

    def soft_time_limit(execute, sql, params, many, context):
        if "INSERT INTO grades_finalgradeaudit" in sql:
            interrupted.append(sql)
            raise SoftTimeLimitExceeded()
        return execute(sql, params, many, context)

    grading_status = pending_round(course_run, chunks_total=1)
    with connection.execute_wrapper(soft_time_limit), retried_in_process():
        tasks.freeze_chunk.delay(grading_status.pk, 1, 0, population_ids(course_run)).get()
    assert len(interrupted) == 2
    assert not FinalGrade.objects.exists(), "the chunk's transaction was rolled back"
    assert FreezeFailure.objects.filter(reason="worker_lost").count() == 6
    assert Chunk.objects.get().deliveries == 3
    assert api.freeze_status(course_run).state == "complete"
