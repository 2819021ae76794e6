"""Every command and Python line of docs/runbook.md, run as an operator would."""

import re
import subprocess
import sys

import pytest
from django.core.management import call_command

from bench.processes import stop, wait_until
from grades import api
from grades.api import FreezeState
from grades.models import CourseRunGradingStatus, FinalGrade, FinalGradeAudit, FreezeFailure
from tests.conftest import ROOT
from tests.integration.conftest import wait_for_state

pytestmark = pytest.mark.integration

RUNBOOK = ROOT / "docs" / "runbook.md"


def code_blocks(section, language="[a-z]*"):
    """The fenced code blocks of one `## ` section of the runbook (of one language), in order."""
    text = RUNBOOK.read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section {section!r} in {RUNBOOK}"
    return re.findall(rf"^```{language}\n(.*?)^```", match.group(1), re.S | re.M)


def shell_lines(section, key):
    return [block.replace("<edx_course_key>", key).strip() for block in code_blocks(section)]


@pytest.fixture
def frozen_run(seeded, start_sandbox, start_worker, demo_run):
    """A run frozen to complete, learner00002 failed by a 500 on their certificate."""
    dataset = seeded(learners=12)
    dataset["learners"]["learner00002"]["faults"] = {"certificates": {"status": 500}}
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    call_command("freeze_final_grades", demo_run.edx_course_key)
    wait_for_state(demo_run, FreezeState.COMPLETE)
    return sandbox


def test_freeze_check_and_inspect_commands(
    seeded, start_sandbox, start_worker, demo_run, manage, operator_env
):
    sandbox = start_sandbox(seeded(learners=10))
    worker = start_worker(sandbox)
    key = demo_run.edx_course_key
    freeze, check = shell_lines("Run the freeze", key)[0], shell_lines("Check the status", key)[0]

    not_started = manage(*check.split()[2:])
    assert not_started.returncode == 3, not_started.stderr
    submitted = manage(*freeze.split()[2:])
    assert submitted.returncode == 0, submitted.stderr
    assert "Submitted the freeze of" in submitted.stdout
    wait_for_state(demo_run, FreezeState.COMPLETE)
    complete = manage(*check.split()[2:])
    assert complete.returncode == 0
    assert f"Course run {key}: complete" in complete.stdout
    assert "frozen:  10" in complete.stdout

    inspect = shell_lines("Something went wrong: now what?", key)[0]
    assert inspect == "celery -A gradefreeze inspect active"
    active = subprocess.run(
        [sys.executable, "-m", *inspect.split()],
        cwd=ROOT,
        env=operator_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert active.returncode == 0, active.stderr
    assert worker.hostname in active.stdout


def test_complete_command_marks_a_pending_run_complete(frozen_run, demo_run, manage):
    status = CourseRunGradingStatus.objects.get(course_run=demo_run)
    status.status, status.completed_on = "pending", None
    status.save()
    complete = shell_lines("Something went wrong: now what?", demo_run.edx_course_key)[1]
    result = manage(*complete.split()[2:])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"Marked the freeze of {demo_run.edx_course_key} complete (0 learners left unfrozen)."
    )
    assert CourseRunGradingStatus.objects.get(course_run=demo_run).is_complete


def test_a_user_who_did_not_get_a_final_grade_is_frozen_from_the_shell(
    frozen_run, demo_run, manage
):
    failure = FreezeFailure.objects.get()
    assert (failure.user.username, failure.stage, failure.http_status) == (
        "learner00002",
        "cache_refresh",
        500,
    )
    frozen_run.clear_faults()
    lines = "\n".join(code_blocks("A user did not get a final grade", "python"))
    lines = lines.replace("<username>", "learner00002")
    shell = manage("shell", stdin=lines.replace("<edx_course_key>", demo_run.edx_course_key))
    assert shell.returncode == 0, shell.stderr
    final_grade = FinalGrade.objects.get(user__username="learner00002", course_run=demo_run)
    audit = FinalGradeAudit.objects.get(final_grade_id=final_grade.pk)
    assert audit.actor.startswith("manage.py shell as ")
    status = api.freeze_status(demo_run)
    assert (status.frozen, status.failed, status.needed) == (12, 0, 12)


def test_revert_from_the_shell_then_a_new_freeze(frozen_run, demo_run, manage):
    frozen = FinalGrade.objects.filter(course_run=demo_run).count()
    assert frozen == 11
    revert = code_blocks("The grades are frozen, but you changed your mind")[0]
    revert = revert.replace("<your course key>", demo_run.edx_course_key)
    shell = manage("shell", stdin=revert)
    assert shell.returncode == 0, shell.stderr
    assert not FinalGrade.objects.filter(course_run=demo_run).exists()
    assert not CourseRunGradingStatus.objects.filter(course_run=demo_run).exists()
    assert not FreezeFailure.objects.exists()
    assert FinalGradeAudit.objects.filter(action="deleted").count() == frozen

    frozen_run.clear_faults()
    call_command("freeze_final_grades", demo_run.edx_course_key)
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.frozen, status.failed) == (12, 0)


def test_status_and_complete_while_chunks_run(
    seeded, start_sandbox, start_worker, demo_run, manage
):
    sandbox = start_sandbox(seeded(learners=30), latency_ms=150)
    # One learner at a time, so that the chunks run long enough to be seen running.
    start_worker(sandbox, FREEZE_CHUNK_SIZE=5, FREEZE_LEARNER_CONCURRENCY=1)
    call_command("freeze_final_grades", demo_run.edx_course_key)
    wait_until(
        lambda: api.freeze_status(demo_run).state == FreezeState.PROCESSING,
        30,
        "chunks to be running",
    )
    status = manage("check_final_grade_freeze_status", demo_run.edx_course_key)
    assert status.returncode == 4
    assert "being processed" in status.stdout
    assert "of 6 done" in status.stdout
    complete = manage("complete_course_run_freeze", demo_run.edx_course_key)
    assert complete.returncode == 1
    assert "still has chunks running" in complete.stderr
    again = manage("freeze_final_grades", demo_run.edx_course_key)
    assert again.returncode == 0
    assert "already being processed" in again.stdout
    assert wait_for_state(demo_run, FreezeState.COMPLETE).frozen == 30


def test_celery_beat_starts_the_freeze_of_a_due_run(
    seeded, start_sandbox, start_worker, demo_run, operator_env, tmp_path
):
    sandbox = start_sandbox(seeded(learners=10))
    start_worker(sandbox)
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gradefreeze",
            "beat",
            "-l",
            "WARNING",
            "-s",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env={**operator_env(), "FREEZE_SCHEDULE_SECONDS": "1"},
    )
    try:
        assert wait_for_state(demo_run, FreezeState.COMPLETE, timeout=60).frozen == 10
    finally:
        stop(beat)


@pytest.mark.parametrize(
    "command",
    ["freeze_final_grades", "check_final_grade_freeze_status", "complete_course_run_freeze"],
)
def test_an_unknown_course_key_is_one_line_on_stderr_and_exit_1(command, manage):
    result = manage(command, "course-v1:MITx+Nope+1T2020")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: No course run has the edX course key 'course-v1:MITx+Nope+1T2020'."
    )
    assert result.stdout == ""


def command_args(line, **values):
    """A runbook line `python manage.py COMMAND <placeholders>...` as manage()'s arguments."""
    for name, value in values.items():
        line = line.replace(f"<{name}>", value)
    return line.split()[2:]


def test_status_as_json_and_watched(frozen_run, demo_run, manage):
    as_json, watched = shell_lines("Check the status", demo_run.edx_course_key)[2:4]
    facts = manage(*command_args(as_json))
    assert facts.returncode == 0, facts.stderr
    assert '"state": "complete"' in facts.stdout
    assert '"frozen": 11, "failed": 1, "left": 0, "needed": 12' in facts.stdout
    watch = manage(*command_args(watched))
    assert watch.returncode == 0, watch.stderr
    assert "11 frozen, 1 failed, 0 left of 12: complete" in watch.stdout


def test_diagnose_a_learner_who_did_not_get_a_final_grade(frozen_run, demo_run, manage):
    diagnose = code_blocks("A user did not get a final grade")[0]
    result = manage(
        *command_args(
            diagnose.strip(), edx_course_key=demo_run.edx_course_key, username="learner00002"
        )
    )
    assert result.returncode == 0, result.stderr
    assert "edX username 'learner00002'" in result.stdout
    assert "cache_refresh: http_error (HTTP 500)" in result.stdout
    assert "none frozen" in result.stdout


def test_export_the_final_grades(frozen_run, demo_run, manage, tmp_path):
    [export] = code_blocks("Export the final grades")
    args = command_args(export.strip(), edx_course_key=demo_run.edx_course_key)
    args[-1] = str(tmp_path / args[-1])
    result = manage(*args)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "final-grades.csv").read_text().splitlines()
    assert lines[0] == "username,email,edx_username,grade,passed,paid,frozen_on"
    assert len(lines) == 1 + 11


def test_revert_with_a_dry_run_then_confirmed_then_restore(frozen_run, demo_run, manage):
    dry_run, revert, restore = code_blocks("Revert a freeze, and undo it")
    key = demo_run.edx_course_key
    frozen = list(FinalGrade.objects.order_by("pk").values())
    planned = manage(*command_args(dry_run.strip(), edx_course_key=key))
    assert planned.returncode == 0, planned.stderr
    assert "Would revert 11 final grades, 1 grading status and 1 failures" in planned.stdout
    assert FinalGrade.objects.count() == 11

    refused = manage(*command_args(revert.strip(), edx_course_key=key), stdin="no\n")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "CommandError: Not confirmed: nothing was reverted."
    reverted = manage(*command_args(revert.strip(), edx_course_key=key), stdin="yes\n")
    assert reverted.returncode == 0, reverted.stderr
    revert_id = re.search(r"revert id (\d+)", reverted.stdout).group(1)
    assert not FinalGrade.objects.exists()
    assert api.freeze_status(demo_run).state == FreezeState.NOT_STARTED

    restored = manage(*command_args(restore.strip(), revert_id=revert_id))
    assert restored.returncode == 0, restored.stderr
    assert list(FinalGrade.objects.order_by("pk").values()) == frozen
    assert api.freeze_status(demo_run).state == FreezeState.COMPLETE
    again = manage(*command_args(restore.strip(), revert_id=revert_id))
    assert again.returncode == 1
    assert again.stderr.startswith(f"CommandError: Revert {revert_id} was already restored")


@pytest.mark.parametrize(
    "args",
    [
        ["export_final_grades", "course-v1:MITx+Nope+1T2020"],
        ["diagnose_final_grade", "course-v1:MITx+Nope+1T2020", "learner00001"],
        ["revert_final_grades", "course-v1:MITx+Nope+1T2020", "--yes"],
    ],
)
def test_the_new_commands_answer_an_unknown_key_in_one_line(args, manage):
    result = manage(*args)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: No course run has the edX course key 'course-v1:MITx+Nope+1T2020'."
    )
    assert result.stdout == ""


def test_restore_of_an_unknown_revert_is_one_line(manage):
    result = manage("restore_final_grades", "424242")
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: No revert has the id 424242."
