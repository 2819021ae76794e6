"""Rounds of a run's freeze: stale chunks do nothing, and a re-run completes what is pending."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from demo.api import seed_course_run, seed_learners
from grades import api, rounds, selectors, tasks
from grades.models import CourseRunGradingStatus, FinalGrade
from sandbox.dataset import generate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_tasks")]

KEY = "course-v1:MITx+Rounds+1T2026"


@pytest.fixture
def course_run():
    return seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))


@pytest.fixture
def learners(course_run, start_sandbox):
    dataset = generate(learners=6, course_keys=(KEY,), revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)
    return dataset


def status_exit_code(capsys):
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", KEY)
    return exit_status.value.code, capsys.readouterr().out


def pending_round(course_run, **fields):
    fields = {"round": 1, "progressed_on": timezone.now(), **fields}
    return CourseRunGradingStatus.objects.create(course_run=course_run, **fields)


def test_a_chunk_of_a_round_that_is_no_longer_current_does_nothing(course_run, learners):
    grading_status = pending_round(course_run, chunks_total=1, round=2)
    user_ids = list(selectors.population(course_run).values_list("id", flat=True))
    assert tasks.freeze_chunk.delay(grading_status.pk, 1, 0, user_ids).get() == "stale"
    assert not FinalGrade.objects.exists()
    assert CourseRunGradingStatus.objects.get().chunks_done == 0


def test_a_chunk_of_a_reverted_run_does_nothing(course_run, learners):
    grading_status = pending_round(course_run, chunks_total=1)
    user_ids = list(selectors.population(course_run).values_list("id", flat=True))
    api.revert_freeze(course_run)
    assert tasks.freeze_chunk.delay(grading_status.pk, 1, 0, user_ids).get() == "stale"
    assert not FinalGrade.objects.exists()


def test_a_run_not_due_is_not_frozen_by_the_task(course_run, learners):
    course_run.freeze_grade_date = timezone.now() + timezone.timedelta(days=1)
    course_run.save()
    assert tasks.freeze_course_run.delay(course_run.pk).get() == "not_due"
    assert not CourseRunGradingStatus.objects.exists()


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


def test_a_stalled_round_exits_6_and_a_new_freeze_finishes_it(
    course_run, learners, capsys, settings
):
    lost = timezone.now() - timezone.timedelta(seconds=settings.FREEZE_STALL_SECONDS + 1)
    pending_round(course_run, chunks_total=2, chunks_done=1, progressed_on=lost)
    code, out = status_exit_code(capsys)
    assert code == 6
    assert "stalled" in out
    assert "left:    6" in out
    call_command("freeze_final_grades", KEY)
    code, out = status_exit_code(capsys)
    assert code == 0
    assert FinalGrade.objects.count() == 6


def test_an_interrupted_in_process_freeze_is_stalled_not_running(course_run, learners, capsys):
    pending_round(course_run, chunks_total=2, chunks_done=1)
    code, out = status_exit_code(capsys)
    assert code == 6
    call_command("freeze_final_grades", KEY)
    assert FinalGrade.objects.count() == 6


def test_a_chunk_delivered_twice_is_counted_once(course_run):
    grading_status = pending_round(course_run, chunks_total=2)
    assert rounds.finish_chunk(grading_status, 1, 0) is False
    assert rounds.finish_chunk(grading_status, 1, 0) is False
    assert CourseRunGradingStatus.objects.get().chunks_done == 1
    assert rounds.finish_chunk(grading_status, 1, 1) is True
