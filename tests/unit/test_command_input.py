"""Each bad input to a runbook command is answered with one clear line, and nothing is written."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from grades.models import CourseRunGradingStatus, FinalGrade, FinalGradeAudit, FreezeFailure
from tests.factories import ChunkFactory, CourseRunFactory

pytestmark = pytest.mark.django_db

COMMANDS = ["freeze_final_grades", "check_final_grade_freeze_status", "complete_course_run_freeze"]


def rows_written():
    return [
        model.objects.count()
        for model in (CourseRunGradingStatus, FinalGrade, FreezeFailure, FinalGradeAudit)
    ]


@pytest.fixture
def nothing_written():
    before = rows_written()
    yield
    assert rows_written() == before


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("key", ["course-v1:MITx+Nope+1T2020", "", "   ", "x" * 300])
def test_unknown_course_key(command, key):
    with pytest.raises(CommandError, match="course key"):
        call_command(command, key)


@pytest.mark.usefixtures("nothing_written")
def test_freeze_without_freeze_date():
    course_run = CourseRunFactory(freeze_grade_date=None)
    with pytest.raises(CommandError, match="has no freeze grade date"):
        call_command("freeze_final_grades", course_run.edx_course_key)


@pytest.mark.usefixtures("nothing_written")
def test_freeze_before_the_freeze_date():
    course_run = CourseRunFactory(freeze_grade_date=timezone.now() + timezone.timedelta(hours=2))
    with pytest.raises(CommandError, match="still in the future"):
        call_command("freeze_final_grades", course_run.edx_course_key)


def test_freeze_of_a_complete_run_is_refused_and_changes_nothing():
    course_run = CourseRunFactory()
    CourseRunGradingStatus.objects.create(
        course_run=course_run, status="complete", completed_on=timezone.now()
    )
    before = rows_written()
    with pytest.raises(CommandError, match="already frozen"):
        call_command("freeze_final_grades", course_run.edx_course_key)
    assert rows_written() == before


@pytest.mark.usefixtures("nothing_written")
def test_complete_refuses_a_run_never_started():
    course_run = CourseRunFactory()
    with pytest.raises(CommandError, match="has not started"):
        call_command("complete_course_run_freeze", course_run.edx_course_key)


@pytest.mark.usefixtures("tasks_on_workers")
def test_complete_refuses_while_chunks_run():
    course_run = CourseRunFactory()
    grading_status = CourseRunGradingStatus.objects.create(
        course_run=course_run, round=1, chunks_total=3, chunks_done=1
    )
    ChunkFactory(grading_status=grading_status)
    with pytest.raises(CommandError, match="still has chunks running"):
        call_command("complete_course_run_freeze", course_run.edx_course_key)
    assert CourseRunGradingStatus.objects.get().status == "pending"


@pytest.mark.usefixtures("tasks_on_workers")
def test_status_while_chunks_run_on_workers_exits_4(capsys):
    course_run = CourseRunFactory()
    grading_status = CourseRunGradingStatus.objects.create(
        course_run=course_run, round=1, chunks_total=2, chunks_done=1
    )
    ChunkFactory(grading_status=grading_status)
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", course_run.edx_course_key)
    assert exit_status.value.code == 4
    assert "chunks:  1 of 2 done" in capsys.readouterr().out


def test_status_of_a_run_never_started_exits_3(capsys):
    course_run = CourseRunFactory()
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", course_run.edx_course_key)
    assert exit_status.value.code == 3
    assert "not started" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_status:
        call_command(command, "--help")
    assert exit_status.value.code == 0
    assert "edx_course_key" in capsys.readouterr().out
