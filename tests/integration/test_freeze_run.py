"""Freezing a whole course run on PostgreSQL, Redis, a Celery worker and the sandbox."""

import subprocess
import sys
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from social_django.models import UserSocialAuth

from grades import api, tasks
from grades.api import FreezeState
from grades.models import FinalGrade, FinalGradeAudit, FreezeFailure
from sandbox.dataset import DEFAULT_STAFF_CLIENT
from tests.conftest import PAID, ROOT, expected_final_grade
from tests.integration.conftest import wait_for_state

pytestmark = pytest.mark.integration


def frozen_values(course_run):
    return {
        row.user.username: (round(row.grade, 6), row.passed, row.paid)
        for row in FinalGrade.objects.filter(course_run=course_run).select_related("user")
    }


@pytest.fixture
def running(seeded, start_sandbox, start_worker):
    """A seeded run, the sandbox serving its dataset and a worker: returns the dataset."""

    def start(**options):
        dataset = seeded(**options)
        sandbox = start_sandbox(dataset)
        start_worker(sandbox)
        return dataset

    return start


def test_a_whole_run_is_frozen_to_complete_with_the_right_values(running, demo_run):
    dataset = running(learners=60)
    call_command("freeze_final_grades", demo_run.edx_course_key)
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.frozen, status.failed, status.left) == (60, 0, 0)
    expected = {
        name: expected_final_grade(learner, demo_run.edx_course_key)
        for name, learner in dataset["learners"].items()
    }
    assert frozen_values(demo_run) == expected
    assert FinalGradeAudit.objects.filter(action="created").count() == 60
    assert set(FinalGradeAudit.objects.values_list("actor", flat=True)) == {
        f"task freeze_chunk {demo_run.edx_course_key}"
    }


STAFF_CLIENT = {
    "FREEZE_MODE": "course_wide",
    "EDXORG_STAFF_CLIENT_ID": DEFAULT_STAFF_CLIENT["client_id"],
    "EDXORG_STAFF_CLIENT_SECRET": DEFAULT_STAFF_CLIENT["client_secret"],
}


def test_a_course_wide_freeze_on_two_workers_freezes_every_learner_once(
    seeded, start_sandbox, start_worker, demo_run, settings
):
    dataset = seeded(learners=250, revoked=20)
    sandbox = start_sandbox(dataset, latency_ms=5)
    for _ in range(2):
        start_worker(sandbox, FREEZE_PAGE_SIZE=40, **STAFF_CLIENT)
    for name, value in STAFF_CLIENT.items():
        setattr(settings, name, value)
    call_command("freeze_final_grades", demo_run.edx_course_key)
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.mode, status.frozen, status.failed, status.left) == ("course_wide", 250, 0, 0)
    assert status.chunks_total == 7  # 250 learners, 40 a page
    expected = {
        name: expected_final_grade(learner, demo_run.edx_course_key)
        for name, learner in dataset["learners"].items()
    }
    assert frozen_values(demo_run) == expected
    created = FinalGradeAudit.objects.filter(action="created")
    assert created.count() == 250
    assert created.values("final_grade_id").distinct().count() == 250
    requests = sandbox.stats()["requests"]
    assert requests["token"] <= 4  # a staff token per worker process, no learner's refresh
    assert requests["grades"] == 7


def test_an_exam_run_takes_edx_passed_and_the_enrollment_mode(running, demo_run):
    demo_run.course.has_exam = True
    demo_run.course.save()
    dataset = running(learners=30)
    call_command("freeze_final_grades", demo_run.edx_course_key)
    wait_for_state(demo_run, FreezeState.COMPLETE)
    key = demo_run.edx_course_key
    expected = {}
    for name, learner in dataset["learners"].items():
        grade = next(g for g in learner["grades"] if g["course_id"] == key)
        mode = next(
            e["mode"] for e in learner["enrollments"] if e["course_details"]["course_id"] == key
        )
        expected[name] = (round(float(grade["percent"]), 6), grade["passed"], mode in PAID)
    assert frozen_values(demo_run) == expected


def test_learners_with_revoked_tokens_fail_with_their_reason_and_the_run_completes(
    running, demo_run
):
    dataset = running(learners=50, revoked=7)
    revoked = {name for name, learner in dataset["learners"].items() if learner.get("revoked")}
    call_command("freeze_final_grades", demo_run.edx_course_key)
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.frozen, status.failed) == (43, 7)
    failures = FreezeFailure.objects.filter(grading_status__course_run=demo_run)
    assert {f.user.username for f in failures} == revoked
    assert {(f.stage, f.http_status) for f in failures} == {("token_refresh", 400)}
    assert not FinalGrade.objects.filter(user__username__in=revoked).exists()


def test_a_second_freeze_of_a_complete_run_changes_nothing(running, demo_run):
    running(learners=20, revoked=2)
    call_command("freeze_final_grades", demo_run.edx_course_key)
    wait_for_state(demo_run, FreezeState.COMPLETE)
    before = (
        list(FinalGrade.objects.order_by("id").values()),
        FinalGradeAudit.objects.count(),
        FreezeFailure.objects.count(),
    )
    with pytest.raises(CommandError, match="already frozen"):
        call_command("freeze_final_grades", demo_run.edx_course_key)
    assert tasks.freeze_course_run.delay(demo_run.id).get(timeout=30) == "complete"
    after = (
        list(FinalGrade.objects.order_by("id").values()),
        FinalGradeAudit.objects.count(),
        FreezeFailure.objects.count(),
    )
    assert after == before


def test_a_learner_without_an_edx_link_fails_and_the_others_are_frozen(running, demo_run):
    running(learners=10)
    UserSocialAuth.objects.filter(uid="learner00003").delete()
    call_command("freeze_final_grades", demo_run.edx_course_key)
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.frozen, status.failed) == (9, 1)
    failure = FreezeFailure.objects.get()
    assert (failure.user.username, failure.stage, failure.reason) == (
        "learner00003",
        "token_refresh",
        "no_edx_link",
    )


def test_the_periodic_task_freezes_every_run_past_its_freeze_date(running, demo_run):
    running(learners=15)
    assert tasks.freeze_due_course_runs.delay().get(timeout=30) == 1
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert status.frozen == 15


def test_two_freezes_started_at_the_same_moment_freeze_each_learner_once(
    running, demo_run, operator_env
):
    running(learners=40)
    commands = [
        subprocess.Popen(
            [sys.executable, "manage.py", "freeze_final_grades", demo_run.edx_course_key],
            cwd=ROOT,
            env=operator_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for command in commands:
        assert command.wait(timeout=60) == 0
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert status.frozen == 40
    assert FinalGradeAudit.objects.filter(action="created").count() == 40


def test_two_freezes_of_one_learner_at_the_same_moment_make_one_final_grade(
    seeded, start_sandbox, demo_run
):
    """Both refresh the same rotating token and store: one refresh, one row, one audit."""
    start_sandbox(seeded(learners=1))
    user = UserSocialAuth.objects.get().user
    start = threading.Barrier(2)
    results, errors = [], []

    def freeze():
        try:
            start.wait()
            results.append(api.freeze_user_final_grade(user, demo_run).pk)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=freeze) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(set(results)) == 1
    assert FinalGrade.objects.count() == 1
    assert FinalGradeAudit.objects.count() == 1
