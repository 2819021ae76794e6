"""retry_failed_final_grades on real workers: the failed learners are frozen, nobody else
is touched, and the run completes again."""

import pytest
from django.core.management import call_command

from grades.api import FreezeState
from grades.models import FinalGrade, FinalGradeAudit
from tests.integration.conftest import wait_for_state
from tests.integration.test_runbook import shell_lines

pytestmark = pytest.mark.integration

FAILING = ["learner00003", "learner00008"]


def test_retry_freezes_the_failed_learners_and_completes_the_run(
    seeded, start_sandbox, start_worker, demo_run, manage
):
    key = demo_run.edx_course_key
    dataset = seeded(learners=12)
    for username in FAILING:
        dataset["learners"][username]["faults"] = {"certificates": {"status": 503}}
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    call_command("freeze_final_grades", key)
    first = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (first.frozen, first.failed) == (10, 2)
    frozen_first = {
        row["user__username"]: row
        for row in FinalGrade.objects.values("user__username", "id", "updated_on")
    }

    sandbox.clear_faults()
    retry = shell_lines("Retry the learners that failed", key)[0]
    assert retry == f"python manage.py retry_failed_final_grades {key}"
    result = manage(*retry.split()[2:])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"Submitted a retry of 2 failed learners of {key} in 1 chunk: "
        "see check_final_grade_freeze_status."
    )
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.frozen, status.failed, status.left, status.needed) == (12, 0, 0, 12)

    retried = FinalGrade.objects.exclude(id__in=[row["id"] for row in frozen_first.values()])
    assert sorted(retried.values_list("user__username", flat=True)) == FAILING
    assert {
        row["user__username"]: row
        for row in FinalGrade.objects.filter(user__username__in=frozen_first).values(
            "user__username", "id", "updated_on"
        )
    } == frozen_first
    audits = FinalGradeAudit.objects.filter(course_run_id=demo_run.id)
    assert audits.count() == 12
    assert set(audits.values_list("action", "actor")) == {("created", f"task freeze_chunk {key}")}
