"""The operators' read commands: export, diagnose, and the status as JSON or watched."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from social_django.models import UserSocialAuth

from grades.models import CourseRunGradingStatus
from tests.factories import (
    CachedCertificateFactory,
    CachedCurrentGradeFactory,
    CachedEnrollmentFactory,
    CourseRunFactory,
    CourseRunGradingStatusFactory,
    FinalGradeFactory,
    FreezeFailureFactory,
    UserFactory,
)
from tests.unit.test_bad_command_input import table_contents

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_run():
    course_run = CourseRunFactory()
    alice = UserFactory(username="alice", email="alice@example.org")
    UserSocialAuth.objects.create(user=alice, provider="edxorg", uid="alice_edx", extra_data={})
    FinalGradeFactory(course_run=course_run, user=alice, grade=0.91, passed=True, paid=True)
    FinalGradeFactory(
        course_run=course_run, user=UserFactory(username="bob"), grade=0.2, passed=False
    )
    status = CourseRunGradingStatusFactory(
        course_run=course_run, status="complete", completed_on=timezone.now(), mode="per_learner"
    )
    FreezeFailureFactory(grading_status=status, user=UserFactory(username="carol"))
    return course_run


def run(command, *args):
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_export_as_csv_has_a_row_per_final_grade(frozen_run, capsys):
    call_command("export_final_grades", frozen_run.edx_course_key)
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [
        (r["username"], r["email"], r["edx_username"], r["grade"], r["passed"]) for r in rows
    ] == [
        ("alice", "alice@example.org", "alice_edx", "0.91", "True"),
        ("bob", "bob@example.com", "", "0.2", "False"),
    ]
    assert list(rows[0]) == [
        "username",
        "email",
        "edx_username",
        "grade",
        "passed",
        "paid",
        "frozen_on",
    ]


def test_export_as_json_is_an_array_of_objects(frozen_run, capsys):
    call_command("export_final_grades", frozen_run.edx_course_key, "--format", "json")
    exported = json.loads(capsys.readouterr().out)
    assert [(row["username"], row["grade"], row["paid"]) for row in exported] == [
        ("alice", 0.91, True),
        ("bob", 0.2, True),
    ]


def test_export_to_a_file(frozen_run, tmp_path):
    out = tmp_path / "grades.csv"
    call_command("export_final_grades", frozen_run.edx_course_key, "--output", str(out))
    assert out.read_text().splitlines()[1].startswith("alice,alice@example.org,alice_edx,0.91")
    assert [path.name for path in tmp_path.iterdir()] == ["grades.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "Error: argument --format: invalid choice: 'xml'"),
        (["--output", "/nonexistent-folder/x.csv"], "The folder of --output does not exist"),
        (["--output", "/tmp"], "--output is a folder, not a file: '/tmp'"),
        (["--output", "a\x00b"], "--output is not a file path"),
    ],
)
def test_export_bad_options_are_one_line_and_write_nothing(frozen_run, args, message):
    before = table_contents()
    with pytest.raises(CommandError) as error:
        call_command("export_final_grades", frozen_run.edx_course_key, *args)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
    assert table_contents() == before


def test_status_as_json_has_the_same_facts_and_exit_status(frozen_run, capsys):
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", frozen_run.edx_course_key, "--json")
    assert exit_status.value.code == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["state"] == "complete"
    assert (facts["frozen"], facts["failed"], facts["left"], facts["needed"]) == (2, 1, 0, 3)
    assert facts["failures_by_reason"] == [
        {"stage": "cache_refresh", "reason": "http_error", "http_status": 500, "count": 1}
    ]


def test_status_as_json_of_a_run_not_started_exits_3(capsys):
    course_run = CourseRunFactory()
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", course_run.edx_course_key, "--json")
    assert exit_status.value.code == 3
    assert json.loads(capsys.readouterr().out)["state"] == "not_started"


def test_watching_a_complete_run_draws_the_bar_and_exits_0(frozen_run, capsys):
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", frozen_run.edx_course_key, "--watch")
    assert exit_status.value.code == 0
    out = capsys.readouterr().out
    assert f"{frozen_run.edx_course_key}: [" + "#" * 27 in out
    assert "2 frozen, 1 failed, 0 left of 3: complete" in out


def test_watching_a_stalled_run_exits_6(tasks_on_workers, capsys):
    course_run = CourseRunFactory()
    CachedEnrollmentFactory(course_run=course_run)
    CachedCurrentGradeFactory(
        course_run=course_run, user=course_run.cachedenrollment_set.get().user
    )
    CourseRunGradingStatusFactory(
        course_run=course_run, round_started_on=timezone.now() - timezone.timedelta(days=1)
    )
    with pytest.raises(SystemExit) as exit_status:
        call_command(
            "check_final_grade_freeze_status",
            course_run.edx_course_key,
            "--watch",
            "--interval",
            "0.1",
        )
    assert exit_status.value.code == 6


@pytest.mark.parametrize("interval", ["0", "61", "-1"])
def test_a_watch_interval_out_of_range_is_one_line(frozen_run, interval):
    with pytest.raises(CommandError, match="^--interval must be between 0.1 and 60 seconds.$"):
        call_command(
            "check_final_grade_freeze_status",
            frozen_run.edx_course_key,
            "--watch",
            "--interval",
            interval,
        )


def test_json_and_watch_together_are_refused(frozen_run):
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command(
            "check_final_grade_freeze_status", frozen_run.edx_course_key, "--json", "--watch"
        )


def test_diagnose_says_which_policy_applies_and_why(frozen_run):
    alice = frozen_run.finalgrade_set.get(user__username="alice").user
    CachedEnrollmentFactory(user=alice, course_run=frozen_run)
    CachedCurrentGradeFactory(
        user=alice, course_run=frozen_run, data={"percent": 0.91, "passed": True}
    )
    CachedCertificateFactory(
        user=alice,
        course_run=frozen_run,
        data={"status": "notpassing", "certificate_type": "verified"},
    )
    before = table_contents()
    printed = run("diagnose_final_grade", frozen_run.edx_course_key, "alice")
    assert table_contents() == before
    assert "edX username 'alice_edx'" in printed
    assert "access token MISSING" in printed
    assert "policy: course without an exam (certificate)" in printed
    assert "passed: certificate status 'notpassing' is not 'downloadable'" in printed
    assert "gives: grade 0.9100, passed False, paid True" in printed
    assert "grade 0.9100, passed True, paid True, frozen" in printed  # what was frozen


def test_diagnose_shows_a_learners_failure_and_no_edx_link(frozen_run):
    printed = run("diagnose_final_grade", frozen_run.edx_course_key, "carol")
    assert "not linked to edX" in printed
    assert "cache_refresh: http_error (HTTP 500)" in printed
    assert "no final grade can be computed: no_current_grade" in printed
    assert "none frozen" in printed


@pytest.mark.parametrize(
    ("username", "message"),
    [("nobody", "No user has the username 'nobody'."), ("a\x1bb", "'a\\x1bb' is not a username.")],
)
def test_diagnose_of_no_such_learner_is_one_line(frozen_run, username, message):
    with pytest.raises(CommandError) as error:
        call_command("diagnose_final_grade", frozen_run.edx_course_key, username)
    assert str(error.value) == message


def test_a_complete_run_stays_complete_when_diagnosed(frozen_run):
    run("diagnose_final_grade", frozen_run.edx_course_key, "bob")
    assert CourseRunGradingStatus.objects.get().is_complete
