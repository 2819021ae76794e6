"""Reverting archives every row under a revert id; restoring puts back exactly what was
there, or refuses and writes nothing."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from grades.audit import acting_as
from grades.models import (
    CourseRunGradingStatus,
    FinalGrade,
    FinalGradeAudit,
    FinalGradeRevert,
    FreezeAction,
    FreezeFailure,
)
from tests.factories import (
    CourseRunFactory,
    CourseRunGradingStatusFactory,
    FinalGradeFactory,
    FreezeFailureFactory,
)
from tests.unit.test_bad_command_input import table_contents

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_run():
    """A complete run: four final grades of various values and one failure."""
    course_run = CourseRunFactory()
    for grade, passed, paid in [(0.91, True, True), (0.2, False, True), (0.5, True, False)]:
        FinalGradeFactory(course_run=course_run, grade=grade, passed=passed, paid=paid)
    FinalGradeFactory(course_run=course_run, grade=0.0, passed=False, paid=False)
    status = CourseRunGradingStatusFactory(
        course_run=course_run, status="complete", completed_on=timezone.now(), mode="per_learner"
    )
    FreezeFailureFactory(grading_status=status)
    return course_run


def rows(model, **filters):
    return list(model.objects.filter(**filters).order_by("pk").values())


def revert(course_run, *args):
    out = io.StringIO()
    call_command("revert_final_grades", course_run.edx_course_key, *args, stdout=out)
    return out.getvalue()


def test_revert_then_restore_gives_back_identical_rows(frozen_run):
    final_grades = rows(FinalGrade)
    status = rows(CourseRunGradingStatus)
    failures = rows(FreezeFailure)
    printed = revert(frozen_run, "--yes")
    revert_id = FinalGradeRevert.objects.get().pk
    assert f"revert id {revert_id}" in printed
    assert not FinalGrade.objects.exists()
    assert not CourseRunGradingStatus.objects.exists()

    call_command("restore_final_grades", str(revert_id), stdout=io.StringIO())

    assert rows(FinalGrade) == final_grades
    restored_status = rows(CourseRunGradingStatus)
    assert [{**row, "id": None} for row in restored_status] == [
        {**row, "id": None} for row in status
    ]
    assert [{**row, "id": None, "grading_status_id": None} for row in rows(FreezeFailure)] == [
        {**row, "id": None, "grading_status_id": None} for row in failures
    ]


def test_every_reverted_and_restored_final_grade_is_audited_with_the_revert_id(frozen_run):
    with acting_as("staff alice"):
        revert(frozen_run, "--yes")
        revert_id = FinalGradeRevert.objects.get().pk
        call_command("restore_final_grades", str(revert_id), stdout=io.StringIO())
    audit = FinalGradeAudit.objects.filter(revert_id=revert_id)
    assert sorted(audit.values_list("action", flat=True)) == ["deleted"] * 4 + ["restored"] * 4
    assert set(audit.values_list("actor", flat=True)) == {"staff alice"}
    assert list(FreezeAction.objects.values_list("action", "actor")) == [
        ("revert", "staff alice"),
        ("restore", "staff alice"),
    ]


def test_a_dry_run_says_what_it_would_delete_and_writes_nothing(frozen_run):
    before = table_contents()
    assert revert(frozen_run, "--dry-run") == (
        f"Would revert 4 final grades, 1 grading status and 1 failures of "
        f"{frozen_run.edx_course_key} (dry run: nothing changed).\n"
    )
    assert table_contents() == before
    assert not FinalGradeRevert.objects.exists()


def test_without_yes_an_answer_other_than_yes_reverts_nothing(frozen_run, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    before = table_contents()
    with pytest.raises(CommandError, match="^Not confirmed: nothing was reverted.$"):
        revert(frozen_run)
    assert table_contents() == before


def test_without_yes_answering_yes_reverts(frozen_run, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert "Type yes to revert" in revert(frozen_run)
    assert not FinalGrade.objects.exists()


def test_the_runbooks_shell_delete_is_archived_and_can_be_restored(frozen_run):
    final_grades = rows(FinalGrade)
    FinalGrade.objects.filter(course_run__edx_course_key=frozen_run.edx_course_key).delete()
    revert_id = FinalGradeRevert.objects.get().pk
    call_command("restore_final_grades", str(revert_id), stdout=io.StringIO())
    assert rows(FinalGrade) == final_grades


def test_the_runbooks_two_shell_lines_are_two_reverts_that_restore_everything(frozen_run):
    """The seed runbook's revert deletes the final grades, then the grading status: each
    line is kept under a revert of its own, and restoring both gives the run back."""
    final_grades, status = rows(FinalGrade), rows(CourseRunGradingStatus)
    key = frozen_run.edx_course_key
    FinalGrade.objects.filter(course_run__edx_course_key=key).delete()
    CourseRunGradingStatus.objects.filter(course_run__edx_course_key=key).delete()
    assert not CourseRunGradingStatus.objects.exists() and not FreezeFailure.objects.exists()
    grades_revert, status_revert = FinalGradeRevert.objects.order_by("pk")
    assert [state["course_run_id"] for state in status_revert.grading_statuses] == [frozen_run.pk]
    for revert_id in (grades_revert.pk, status_revert.pk):
        call_command("restore_final_grades", str(revert_id), stdout=io.StringIO())
    assert rows(FinalGrade) == final_grades
    assert [{**row, "id": None} for row in rows(CourseRunGradingStatus)] == [
        {**row, "id": None} for row in status
    ]
    assert FreezeFailure.objects.count() == 1


def test_deleting_one_final_grade_is_archived_too():
    final_grade = FinalGradeFactory(grade=0.4)
    final_grade.delete()
    archived = FinalGradeRevert.objects.get().final_grades.get()
    assert archived.grade == 0.4
    assert final_grade.pk is None


def test_restore_is_refused_when_a_learner_was_frozen_again_since(frozen_run):
    revert(frozen_run, "--yes")
    revert_id = FinalGradeRevert.objects.get().pk
    learner_id = FinalGradeRevert.objects.get().final_grades.order_by("user_id").first().user_id
    FinalGradeFactory(course_run=frozen_run, user_id=learner_id, grade=0.3)
    before = table_contents()
    with pytest.raises(CommandError, match="1 learner\\(s\\) of revert .* frozen again since"):
        call_command("restore_final_grades", str(revert_id))
    assert table_contents() == before


def test_a_revert_is_restored_once(frozen_run):
    revert(frozen_run, "--yes")
    revert_id = str(FinalGradeRevert.objects.get().pk)
    call_command("restore_final_grades", revert_id, stdout=io.StringIO())
    with pytest.raises(CommandError, match=f"^Revert {revert_id} was already restored on "):
        call_command("restore_final_grades", revert_id)


def test_revert_is_refused_while_chunks_run(frozen_run, tasks_on_workers):
    status = CourseRunGradingStatus.objects.get()
    status.status, status.completed_on, status.chunks_done = "pending", None, 0
    status.round_started_on = timezone.now()  # a round just sent counts as running
    status.save()
    before = table_contents()
    with pytest.raises(CommandError, match="still has chunks running"):
        revert(frozen_run, "--yes")
    assert table_contents() == before


def test_reverting_a_run_never_frozen_is_refused():
    course_run = CourseRunFactory()
    with pytest.raises(CommandError, match="has no final grade and no freeze to revert"):
        revert(course_run, "--yes")
    assert not FinalGradeRevert.objects.exists()


@pytest.mark.parametrize("revert_id", ["0", "-3", "99999", str(2**70), "x", "1.5", ""])
def test_restore_of_no_such_revert_is_one_line(revert_id):
    with pytest.raises(CommandError) as error:
        call_command("restore_final_grades", revert_id)
    assert "\n" not in str(error.value)
