"""The REST API against its own OpenAPI schema, on a live server: schemathesis generates
inputs for every operation; no answer is a 5xx and every answer matches the schema.
Anonymous and non-staff clients are refused everywhere."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

from grades.models import FinalGrade
from tests.factories import (
    CourseRunFactory,
    CourseRunGradingStatusFactory,
    FinalGradeFactory,
    FreezeFailureFactory,
    UserFactory,
)

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def staff_token(transactional_db):
    user = UserFactory(username="apistaff", is_staff=True, is_superuser=True)
    return Token.objects.create(user=user).key


@pytest.fixture
def freeze_data(transactional_db):
    """A run frozen with a failure (and its grades reverted once), and a run not due."""
    frozen = CourseRunFactory()
    FinalGradeFactory.create_batch(3, course_run=frozen)
    FreezeFailureFactory(grading_status=CourseRunGradingStatusFactory(course_run=frozen))
    FinalGrade.objects.filter(pk=FinalGrade.objects.order_by("pk").first().pk).delete()
    CourseRunFactory(freeze_grade_date=None)


def test_every_operation_answers_as_its_schema_says(
    live_server, staff_token, freeze_data, in_process_tasks
):
    headers = {"Authorization": f"Token {staff_token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", headers=headers)
    examples: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_as_the_schema_says(case):
            examples[case.operation.label] = examples.get(case.operation.label, 0) + 1
            case.call_and_validate(headers=headers)

        answers_as_the_schema_says()
    print(f"schemathesis: {len(examples)} operations, {sum(examples.values())} examples")
    assert len(examples) == len(list(schema.get_all_operations())) >= 13


ENDPOINTS = [
    ("get", "/api/course-runs/"),
    ("get", "/api/course-runs/{run}/"),
    ("get", "/api/course-runs/{run}/final-grades/"),
    ("get", "/api/course-runs/{run}/final-grades/export/"),
    ("get", "/api/course-runs/{run}/failures/"),
    ("get", "/api/course-runs/{run}/audit/"),
    ("post", "/api/course-runs/{run}/freeze/"),
    ("post", "/api/course-runs/{run}/retry/"),
    ("post", "/api/course-runs/{run}/complete/"),
    ("post", "/api/course-runs/{run}/revert/"),
    ("get", "/api/reverts/"),
    ("post", "/api/reverts/1/restore/"),
    ("get", "/api/schema/"),
    ("get", "/api/docs/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_an_anonymous_client_gets_401_with_a_json_message(live_server, method, path):
    run = CourseRunFactory()
    answer = requests.request(method, live_server.url + path.format(run=run.pk), timeout=10)
    assert answer.status_code == 401
    assert answer.json()["detail"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_learner_with_a_token_gets_403_with_a_json_message(live_server, method, path):
    run = CourseRunFactory()
    token = Token.objects.create(user=UserFactory()).key
    answer = requests.request(
        method,
        live_server.url + path.format(run=run.pk),
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert answer.status_code == 403
    assert answer.json()["detail"]


def test_staff_without_the_freeze_permission_reads_but_cannot_act(live_server):
    run = CourseRunFactory()
    token = Token.objects.create(user=UserFactory(is_staff=True)).key
    headers = {"Authorization": f"Token {token}"}
    read = requests.get(f"{live_server.url}/api/course-runs/{run.pk}/", headers=headers, timeout=10)
    assert read.status_code == 200
    act = requests.post(
        f"{live_server.url}/api/course-runs/{run.pk}/revert/", headers=headers, timeout=10
    )
    assert act.status_code == 403
    assert "grades.freeze_final_grades" in act.json()["detail"]


def test_an_unknown_api_path_is_a_json_404(live_server, staff_token):
    answer = requests.get(
        f"{live_server.url}/api/nothing-here/",
        headers={"Authorization": f"Token {staff_token}"},
        timeout=10,
    )
    assert answer.status_code == 404
    assert answer.json() == {"detail": "No such API endpoint: see /api/docs/."}
