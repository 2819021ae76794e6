"""Retrying a run's failed learners: exactly them, in a new round, under the run's lock."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from courses.models import CourseRun
from demo.api import seed_course_run, seed_learners
from grades import api, rounds
from grades.api import FreezeState
from grades.models import CourseRunGradingStatus, FinalGrade, FinalGradeAudit, FreezeFailure
from sandbox.dataset import generate
from tests.factories import (
    ChunkFactory,
    CourseRunFactory,
    CourseRunGradingStatusFactory,
    FinalGradeFactory,
    FreezeFailureFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def grading_status():
    """A run whose round has ended with two learners failed, one frozen and one left."""
    grading_status = CourseRunGradingStatusFactory()
    for _ in range(2):
        FreezeFailureFactory(grading_status=grading_status)
    FinalGradeFactory(course_run=grading_status.course_run)
    return grading_status


def failed_user_ids(grading_status):
    return sorted(grading_status.failures.values_list("user_id", flat=True))


def retry(course_run, django_capture_on_commit_callbacks):
    sent = []
    with django_capture_on_commit_callbacks(execute=True):
        outcome, freeze_round = api.retry_failed_learners(course_run, sent.append)
    return outcome, freeze_round, sent


def test_the_new_round_holds_exactly_the_failed_learners(
    grading_status, django_capture_on_commit_callbacks
):
    failed = failed_user_ids(grading_status)
    outcome, freeze_round, sent = retry(
        grading_status.course_run, django_capture_on_commit_callbacks
    )
    assert outcome == "dispatched"
    assert sent == [freeze_round]
    assert freeze_round.chunks == [failed]
    assert (freeze_round.grading_status_id, freeze_round.number) == (grading_status.pk, 2)


def test_the_failures_of_the_retried_learners_are_cleared(
    grading_status, django_capture_on_commit_callbacks
):
    retry(grading_status.course_run, django_capture_on_commit_callbacks)
    assert not FreezeFailure.objects.exists()
    grading_status.refresh_from_db()
    assert (grading_status.round, grading_status.chunks_done, grading_status.chunks_total) == (
        2,
        0,
        1,
    )


def test_failed_learners_are_split_in_chunks(
    grading_status, django_capture_on_commit_callbacks, settings
):
    settings.FREEZE_CHUNK_SIZE = 2
    FreezeFailureFactory(grading_status=grading_status)
    _, freeze_round, _ = retry(grading_status.course_run, django_capture_on_commit_callbacks)
    assert [len(chunk) for chunk in freeze_round.chunks] == [2, 1]


def test_a_complete_run_goes_back_to_pending(grading_status, django_capture_on_commit_callbacks):
    rounds.mark_complete(grading_status)
    retry(grading_status.course_run, django_capture_on_commit_callbacks)
    grading_status.refresh_from_db()
    assert (grading_status.status, grading_status.completed_on) == ("pending", None)


def test_a_learner_frozen_by_hand_since_failing_is_not_retried(
    grading_status, django_capture_on_commit_callbacks
):
    frozen_since = grading_status.failures.first()
    FinalGradeFactory(user=frozen_since.user, course_run=grading_status.course_run)
    _, freeze_round, _ = retry(grading_status.course_run, django_capture_on_commit_callbacks)
    assert frozen_since.user_id not in freeze_round.chunks[0]
    assert len(freeze_round.chunks[0]) == 1


def test_nothing_failed_changes_nothing(django_capture_on_commit_callbacks):
    grading_status = CourseRunGradingStatusFactory()
    rounds.mark_complete(grading_status)
    outcome, freeze_round, sent = retry(
        grading_status.course_run, django_capture_on_commit_callbacks
    )
    assert (outcome, freeze_round, sent) == ("nothing_failed", None, [])
    assert CourseRunGradingStatus.objects.get().is_complete


def test_a_run_never_frozen_has_nothing_to_retry(django_capture_on_commit_callbacks):
    outcome, _, sent = retry(CourseRunFactory(), django_capture_on_commit_callbacks)
    assert (outcome, sent) == ("not_started", [])
    assert not CourseRunGradingStatus.objects.exists()


@pytest.mark.usefixtures("tasks_on_workers")
def test_refused_while_chunks_run(grading_status, django_capture_on_commit_callbacks):
    grading_status.chunks_done = 0
    grading_status.save()
    ChunkFactory(grading_status=grading_status)
    failed = failed_user_ids(grading_status)
    outcome, _, sent = retry(grading_status.course_run, django_capture_on_commit_callbacks)
    assert (outcome, sent) == ("in_progress", [])
    assert failed_user_ids(grading_status) == failed


def test_refused_when_the_freeze_date_moved_to_the_future(
    grading_status, django_capture_on_commit_callbacks
):
    course_run = grading_status.course_run
    course_run.freeze_grade_date = timezone.now() + timezone.timedelta(days=1)
    course_run.save()
    failed = failed_user_ids(grading_status)
    outcome, _, sent = retry(course_run, django_capture_on_commit_callbacks)
    assert (outcome, sent) == ("not_due", [])
    assert failed_user_ids(grading_status) == failed


def test_command_refuses_a_run_never_frozen():
    course_run = CourseRunFactory()
    with pytest.raises(CommandError, match="has not started: run freeze_final_grades"):
        call_command("retry_failed_final_grades", course_run.edx_course_key)


@pytest.mark.usefixtures("tasks_on_workers")
def test_command_refuses_while_chunks_run(grading_status):
    grading_status.chunks_done = 0
    grading_status.save()
    ChunkFactory(grading_status=grading_status)
    with pytest.raises(CommandError, match="still has chunks running"):
        call_command("retry_failed_final_grades", grading_status.course_run.edx_course_key)
    assert FreezeFailure.objects.count() == 2


def test_command_with_nothing_failed_says_so(capsys):
    grading_status = CourseRunGradingStatusFactory()
    call_command("retry_failed_final_grades", grading_status.course_run.edx_course_key)
    assert capsys.readouterr().out == (
        f"No learner of {grading_status.course_run.edx_course_key} is recorded as failed; "
        "nothing changed.\n"
    )


def test_the_command_has_help(capsys):
    with pytest.raises(SystemExit) as exit_status:
        call_command("retry_failed_final_grades", "--help")
    assert exit_status.value.code == 0
    assert "Retry only the learners whose freeze failed" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_tasks")
def test_in_process_retry_freezes_the_failed_learners_and_completes_the_run(start_sandbox, capsys):
    key = "course-v1:MITx+Retry+1T2026"
    course_run = seed_course_run(key, timezone.now() - timezone.timedelta(hours=1))
    dataset = generate(learners=8, course_keys=(key,), revoked=0)
    for username in ("learner00002", "learner00005"):
        dataset["learners"][username]["faults"] = {"certificates": {"status": 500}}
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    call_command("freeze_final_grades", key)
    assert "complete; 6 frozen, 2 failed, 0 left" in capsys.readouterr().out
    frozen_before = dict(FinalGrade.objects.values_list("user__username", "pk"))

    sandbox.clear_faults()
    call_command("retry_failed_final_grades", key)
    out = capsys.readouterr().out
    assert "  course-v1:MITx+Retry+1T2026: 1 of 1 chunks done" in out
    assert out.endswith(
        f"Retried 2 failed learners of {key} in-process (no broker configured).\n"
        f"Freeze of {key}: complete; 8 frozen, 0 failed, 0 left.\n"
    )
    assert api.freeze_status(course_run).state == FreezeState.COMPLETE
    retried = FinalGrade.objects.exclude(pk__in=frozen_before.values())
    assert sorted(retried.values_list("user__username", flat=True)) == [
        "learner00002",
        "learner00005",
    ]
    assert (
        dict(
            FinalGrade.objects.filter(pk__in=frozen_before.values()).values_list(
                "user__username", "pk"
            )
        )
        == frozen_before
    )
    audits = FinalGradeAudit.objects.filter(final_grade_id__in=retried.values("pk"))
    assert sorted(audits.values_list("action", "actor")) == [
        ("created", f"task freeze_chunk {key}"),
        ("created", f"task freeze_chunk {key}"),
    ]


def test_a_course_wide_run_is_retried_learner_by_learner_and_keeps_its_mode(
    grading_status, django_capture_on_commit_callbacks
):
    grading_status.mode = grading_status.round_mode = CourseRun.COURSE_WIDE
    grading_status.fully_listed = True
    grading_status.save()
    _, freeze_round, _ = retry(grading_status.course_run, django_capture_on_commit_callbacks)
    assert freeze_round.mode == CourseRun.PER_LEARNER
    grading_status.refresh_from_db()
    assert (grading_status.mode, grading_status.round_mode) == (
        CourseRun.COURSE_WIDE,
        CourseRun.PER_LEARNER,
    )
    assert grading_status.listed and grading_status.fully_listed


def test_a_retry_of_a_course_wide_run_never_listed_in_full_does_not_complete_it(
    grading_status, django_capture_on_commit_callbacks, tasks_on_workers
):
    """A listing that died half-way leaves learners never read: a retry of those who
    failed, once finished, must list the run again rather than mark it complete."""
    course_run = grading_status.course_run
    course_run.freeze_mode = CourseRun.COURSE_WIDE
    course_run.save()
    grading_status.mode = grading_status.round_mode = CourseRun.COURSE_WIDE
    grading_status.round_started_on = timezone.now() - timezone.timedelta(hours=1)
    grading_status.save()
    _, freeze_round, _ = retry(course_run, django_capture_on_commit_callbacks)
    rounds.finish_chunk(grading_status, freeze_round.number, 0)
    sent = []
    with django_capture_on_commit_callbacks(execute=True):
        outcome = api.freeze_course_run(course_run, sent.append)
    assert outcome == "dispatched"
    assert [(r.mode, r.number) for r in sent] == [(CourseRun.COURSE_WIDE, freeze_round.number + 1)]
