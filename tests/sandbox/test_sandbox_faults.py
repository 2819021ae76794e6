"""Injected faults: statuses, stalls, garbled bodies and delays, by learner and endpoint."""

import time

import pytest
import requests

from sandbox.dataset import DEFAULT_STAFF_CLIENT, DatasetError

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"


def with_faults(dataset, endpoint_faults=None, **learner_faults):
    """The dataset with top-level faults and per-learner faults (username=faults) set."""
    if endpoint_faults is not None:
        dataset["faults"] = endpoint_faults
    for username, faults in learner_faults.items():
        dataset["learners"][username]["faults"] = faults
    return dataset


def grade_status(sandbox, username, token=None):
    answer = requests.get(
        f"{sandbox.url}api/grades/v1/courses/{ANALOG}/?username={username}",
        headers={"Authorization": f"Bearer {token or f'at-{username}-0'}"},
        timeout=5,
    )
    return answer.status_code


def test_a_learners_status_fault_fails_their_requests(run_sandbox, dataset, edx):
    sandbox = run_sandbox(with_faults(dataset, bob={"certificates": {"status": 503}}))

    with pytest.raises(requests.HTTPError) as failed:
        edx(sandbox, "at-bob-0").certificates.get_student_certificate("bob", ANALOG)

    assert failed.value.response.status_code == 503
    assert failed.value.response.json()["error_code"] == "sandbox_fault"


def test_a_learners_fault_leaves_other_learners_alone(run_sandbox, dataset, edx):
    sandbox = run_sandbox(with_faults(dataset, bob={"certificates": {"status": 503}}))

    certificate = edx(sandbox, "at-alice-0").certificates.get_student_certificate("alice", ANALOG)

    assert certificate.status == "downloadable"


def test_a_learners_fault_applies_when_staff_ask_about_them(run_sandbox, dataset, oauth, edx):
    sandbox = run_sandbox(with_faults(dataset, bob={"grades": {"status": 500}}))
    token = oauth(
        sandbox,
        grant_type="client_credentials",
        client_id=DEFAULT_STAFF_CLIENT["client_id"],
        client_secret=DEFAULT_STAFF_CLIENT["client_secret"],
    ).json()["access_token"]

    assert grade_status(sandbox, "bob", token) == 500
    assert grade_status(sandbox, "alice", token) == 200


def test_an_endpoint_fault_fails_every_learner(run_sandbox, dataset):
    sandbox = run_sandbox(with_faults(dataset, {"grades": {"status": 502}}))

    assert [grade_status(sandbox, u) for u in ("alice", "bob", "carol")] == [502, 502, 502]


def test_an_endpoint_fault_leaves_other_endpoints_alone(run_sandbox, dataset, edx):
    sandbox = run_sandbox(with_faults(dataset, {"grades": {"status": 502}}))

    assert edx(sandbox, "at-bob-0").certificates.get_student_certificate("bob", ANALOG)


def test_a_fault_with_times_lets_the_retry_succeed(run_sandbox, dataset):
    sandbox = run_sandbox(with_faults(dataset, bob={"grades": {"status": 503, "times": 2}}))

    assert [grade_status(sandbox, "bob") for _ in range(4)] == [503, 503, 200, 200]


def test_a_fault_with_a_rate_hits_about_that_share_of_requests(run_sandbox, dataset):
    sandbox = run_sandbox(with_faults(dataset, {"grades": {"status": 500, "rate": 0.3}}))

    failures = sum(grade_status(sandbox, "alice") == 500 for _ in range(300))

    assert 50 <= failures <= 130


def test_the_same_seed_fails_the_same_requests(run_sandbox, dataset):
    statuses = []
    for _ in range(2):
        data = with_faults(dataset, {"grades": {"status": 500, "rate": 0.5}})
        sandbox = run_sandbox(data, seed=42)
        statuses.append([grade_status(sandbox, "alice") for _ in range(40)])

    assert statuses[0] == statuses[1]
    assert 500 in statuses[0] and 200 in statuses[0]


def test_rate_and_times_together_stop_after_that_many_hits(run_sandbox, dataset):
    fault = {"grades": {"status": 500, "rate": 0.5, "times": 3}}
    sandbox = run_sandbox(with_faults(dataset, fault))

    statuses = [grade_status(sandbox, "alice") for _ in range(60)]

    assert statuses.count(500) == 3


def test_a_timeout_fault_stalls_until_the_client_gives_up(run_sandbox, dataset, edx, control):
    sandbox = run_sandbox(with_faults(dataset, bob={"grades": {"timeout": True}}))

    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        edx(sandbox, "at-bob-0", timeout=0.5).current_grades.get_student_current_grade(
            "bob", ANALOG
        )

    assert time.monotonic() - started < 5


def test_a_stalled_answer_is_dropped_when_the_client_hangs_up(run_sandbox, dataset, control):
    sandbox = run_sandbox(with_faults(dataset, bob={"grades": {"timeout": True}}))
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{sandbox.url}api/grades/v1/courses/{ANALOG}/?username=bob",
            headers={"Authorization": "Bearer at-bob-0"},
            timeout=0.3,
        )

    deadline = time.monotonic() + 3
    while control(sandbox, "GET", "stats").json()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)

    stats = control(sandbox, "GET", "stats").json()
    assert stats["in_flight"] == 0
    assert stats["abandoned"] == {"grades": 1}


def test_a_timeout_fault_answers_504_when_it_runs_out(run_sandbox, dataset):
    sandbox = run_sandbox(with_faults(dataset, bob={"grades": {"timeout": True, "timeout_s": 0.2}}))

    assert grade_status(sandbox, "bob") == 504


def test_a_malformed_fault_answers_200_with_invalid_json(run_sandbox, dataset, edx):
    sandbox = run_sandbox(with_faults(dataset, alice={"grades": {"malformed": True}}))

    with pytest.raises(requests.JSONDecodeError):
        edx(sandbox, "at-alice-0").current_grades.get_student_current_grade("alice", ANALOG)

    assert grade_status(sandbox, "alice") == 200


def test_a_delay_fault_slows_the_answer_but_keeps_it(run_sandbox, dataset, edx):
    sandbox = run_sandbox(with_faults(dataset, alice={"grades": {"delay_ms": 300}}))
    client = edx(sandbox, "at-alice-0")

    started = time.monotonic()
    grade = client.current_grades.get_student_current_grade("alice", ANALOG)

    assert time.monotonic() - started >= 0.3
    assert grade.percent == 0.91


def test_a_token_fault_refuses_the_refresh_without_rotating(run_sandbox, dataset, oauth):
    sandbox = run_sandbox(with_faults(dataset, alice={"token": {"status": 401, "times": 1}}))
    form = {
        "grant_type": "refresh_token",
        "client_id": "gradefreeze",
        "client_secret": "sandbox-secret",
        "refresh_token": "rt-alice-0",
    }

    first = oauth(sandbox, **form)
    retry = oauth(sandbox, **form)

    assert first.status_code == 401
    assert first.json()["error"] == "invalid_grant"
    assert retry.status_code == 200


def test_a_malformed_token_answer_is_not_json(run_sandbox, dataset, oauth):
    sandbox = run_sandbox(with_faults(dataset, {"token": {"malformed": True}}))

    answer = oauth(
        sandbox,
        grant_type="client_credentials",
        client_id=DEFAULT_STAFF_CLIENT["client_id"],
        client_secret=DEFAULT_STAFF_CLIENT["client_secret"],
    )

    assert answer.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        answer.json()


def test_enrollment_faults_cover_both_enrollment_endpoints(
    run_sandbox, dataset, edx, staff_token_for
):
    sandbox = run_sandbox(with_faults(dataset, carol={"enrollments": {"status": 500}}))
    staff = edx(sandbox, staff_token_for(sandbox))

    with pytest.raises(requests.HTTPError) as own:
        edx(sandbox, "at-carol-0").enrollments.get_student_enrollments()
    with pytest.raises(requests.HTTPError) as listed:
        list(staff.enrollments.get_enrollments(usernames=["carol"]))

    assert own.value.response.status_code == listed.value.response.status_code == 500


def test_a_read_error_is_a_fault_of_the_grades_endpoint_only(run_sandbox, dataset):
    with pytest.raises(DatasetError, match="read_error"):
        run_sandbox(with_faults(dataset, bob={"certificates": {"read_error": True}}))
