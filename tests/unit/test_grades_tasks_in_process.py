"""The embedded default: tasks run in-process, the freeze completes within the command."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from demo.api import seed_course_run, seed_learners
from grades import api
from grades.api import FreezeState
from grades.models import FinalGrade, FreezeFailure
from sandbox.dataset import generate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_tasks")]


@pytest.fixture
def course_run():
    return seed_course_run(
        "course-v1:MITx+Demo+1T2026", timezone.now() - timezone.timedelta(hours=1)
    )


def test_freeze_runs_in_process_to_complete(course_run, start_sandbox, settings, capsys):
    settings.FREEZE_CHUNK_SIZE = 7
    dataset = generate(learners=30, course_keys=(course_run.edx_course_key,), revoked=3)
    seed_learners(dataset)
    start_sandbox(dataset)
    call_command("freeze_final_grades", course_run.edx_course_key)
    out = capsys.readouterr().out
    assert "5 of 5 chunks done" in out
    assert "complete; 27 frozen, 3 failed, 0 left" in out
    assert api.freeze_status(course_run).state == FreezeState.COMPLETE
    assert FinalGrade.objects.count() == 27
    assert FreezeFailure.objects.filter(stage="token_refresh", http_status=400).count() == 3


def test_freeze_user_final_grade_twice_makes_one_row_and_asks_edx_once(course_run, start_sandbox):
    dataset = generate(learners=1, course_keys=(course_run.edx_course_key,), revoked=0)
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    user = get_user_model().objects.get()
    first = api.freeze_user_final_grade(user, course_run)
    requests_after_first = sandbox.stats()["requests"]
    second = api.freeze_user_final_grade(user, course_run)
    assert second.pk == first.pk
    assert FinalGrade.objects.count() == 1
    assert sandbox.stats()["requests"] == requests_after_first
