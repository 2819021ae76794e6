"""Control endpoints under /_sandbox/: health, stats, faults and learners at run time."""

import pytest
import requests

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
NEW_RUN = "course-v1:MITx+Analog+Learning+200+Sep_2015"


def grade_status(sandbox, username):
    answer = requests.get(
        f"{sandbox.url}api/grades/v1/courses/{ANALOG}/?username={username}",
        headers={"Authorization": f"Bearer at-{username}-0"},
        timeout=5,
    )
    return answer.status_code


def test_health_says_ok(lms, control):
    answer = control(lms, "GET", "health")

    assert answer.status_code == 200
    assert answer.json() == {"ok": True}


def test_stats_count_requests_per_endpoint_and_status(lms, edx, control):
    alice = edx(lms, "at-alice-0")
    alice.current_grades.get_student_current_grade("alice", ANALOG)
    alice.certificates.get_student_certificate("alice", ANALOG)
    with pytest.raises(requests.HTTPError):
        alice.current_grades.get_student_current_grade("bob", ANALOG)

    stats = control(lms, "GET", "stats").json()

    assert stats["requests"] == {"grades": 2, "certificates": 1}
    assert stats["statuses"] == {"200": 2, "403": 1}
    assert stats["endpoints"]["grades"] == {"200": 1, "403": 1}


def test_stats_count_throttled_answers_and_the_busiest_minute(run_sandbox, dataset, get, control):
    sandbox = run_sandbox(dataset, rates={"enrollments_user": "3/minute"})
    for _ in range(5):
        get(sandbox, "api/enrollment/v1/enrollment", "at-bob-0")

    stats = control(sandbox, "GET", "stats").json()

    assert stats["throttled"] == {"enrollments": 2}
    assert stats["peak_per_minute"] == {"enrollments": 5}
    assert stats["endpoints"]["enrollments"] == {"200": 3, "429": 2}


def test_settings_show_what_is_in_force(run_sandbox, dataset, control):
    sandbox = run_sandbox(dataset, rates={"token": "off"}, unicode_usernames=True)

    settings = control(sandbox, "GET", "settings").json()

    assert settings["rates"]["token"] == "off"
    assert settings["unicode_usernames"] is True


def test_settings_come_from_the_data_file_too(run_sandbox, dataset, control):
    dataset["settings"] = {"throttles": "off"}
    sandbox = run_sandbox(dataset)

    assert control(sandbox, "GET", "settings").json()["throttles"] == "off"


def test_stats_reset_starts_counting_again(lms, edx, control):
    edx(lms, "at-alice-0").current_grades.get_student_current_grade("alice", ANALOG)

    control(lms, "POST", "stats/reset")

    stats = control(lms, "GET", "stats").json()
    assert stats["requests"] == {}
    assert stats["statuses"] == {}
    assert stats["peak_per_minute"] == {}


def test_faults_put_at_run_time_take_effect(lms, control):
    answer = control(
        lms, "PUT", "faults", json={"learners": {"bob": {"faults": {"grades": {"status": 500}}}}}
    )

    assert answer.status_code == 200
    assert answer.json()["learners"] == {"bob": {"faults": {"grades": {"status": 500}}}}
    assert grade_status(lms, "bob") == 500
    assert grade_status(lms, "alice") == 200


def test_put_faults_replaces_only_the_named_endpoints(lms, control):
    control(lms, "PUT", "faults", json={"faults": {"grades": {"status": 500}}})
    control(lms, "PUT", "faults", json={"faults": {"certificates": {"status": 503}}})

    assert set(control(lms, "GET", "faults").json()["faults"]) == {"grades", "certificates"}


def test_null_removes_one_fault(lms, control):
    control(lms, "PUT", "faults", json={"faults": {"grades": {"status": 500}}})

    control(lms, "PUT", "faults", json={"faults": {"grades": None}})

    assert grade_status(lms, "alice") == 200


def test_delete_faults_clears_them_all(run_sandbox, dataset, control):
    dataset["faults"] = {"grades": {"status": 500}}
    dataset["learners"]["bob"]["faults"] = {"grades": {"status": 503}}
    sandbox = run_sandbox(dataset)

    control(sandbox, "DELETE", "faults")

    assert [grade_status(sandbox, u) for u in ("alice", "bob")] == [200, 200]
    assert control(sandbox, "GET", "faults").json() == {"faults": {}, "learners": {}}


def test_a_bad_fault_spec_is_400_and_changes_nothing(lms, control):
    answer = control(
        lms,
        "PUT",
        "faults",
        json={"faults": {"grades": {"status": 500}, "certificates": {"stauts": 503}}},
    )

    assert answer.status_code == 400
    assert "faults.certificates" in answer.json()["error"]
    assert grade_status(lms, "alice") == 200


def test_faults_for_an_unknown_learner_are_404(lms, control):
    answer = control(
        lms, "PUT", "faults", json={"learners": {"zoe": {"faults": {"grades": {"status": 500}}}}}
    )

    assert answer.status_code == 404


def test_a_replaced_learner_shows_the_new_grade(lms, edx, control):
    learner = control(lms, "GET", "learners/bob").json()
    learner["grades"][0]["percent"] = 0.55

    answer = control(lms, "PUT", "learners/bob", json=learner)

    assert answer.status_code == 200
    grade = edx(lms, "at-bob-0").current_grades.get_student_current_grade("bob", ANALOG)
    assert grade.percent == 0.55


def test_a_replaced_learner_keeps_tokens_left_out(lms, oauth, edx, control):
    rotated = oauth(
        lms,
        grant_type="refresh_token",
        client_id="gradefreeze",
        client_secret="sandbox-secret",
        refresh_token="rt-bob-0",
    ).json()
    learner = control(lms, "GET", "learners/bob").json()
    del learner["access_token"], learner["refresh_token"]

    control(lms, "PUT", "learners/bob", json=learner)

    assert edx(lms, rotated["access_token"]).current_grades.get_student_current_grade("bob", ANALOG)


def test_a_replaced_learner_appears_once_in_the_course_grades(lms, edx, staff_token, control):
    learner = control(lms, "GET", "learners/carol").json()
    learner["grades"][0]["percent"] = 0.99

    control(lms, "PUT", "learners/carol", json=learner)

    grades = edx(lms, staff_token).current_grades.get_course_current_grades(ANALOG)
    assert sorted(grades.all_usernames) == ["alice", "bob", "carol", "dave"]
    assert grades.current_grades["carol"].percent == 0.99


def test_a_new_learner_in_a_new_course_run_is_served(lms, edx, staff_token, control):
    erin = {
        "email": "erin@example.com",
        "access_token": "at-erin-0",
        "refresh_token": "rt-erin-0",
        "enrollments": [
            {
                "course_details": {"course_id": NEW_RUN},
                "created": None,
                "is_active": True,
                "mode": "audit",
                "user": "erin",
            }
        ],
        "grades": [
            {
                "course_id": NEW_RUN,
                "email": "erin@example.com",
                "passed": True,
                "percent": 0.8,
                "letter_grade": "Pass",
                "username": "erin",
            }
        ],
    }

    answer = control(lms, "PUT", "learners/erin", json=erin)

    assert answer.status_code == 201
    grades = edx(lms, staff_token).current_grades.get_course_current_grades(NEW_RUN)
    assert list(grades.all_usernames) == ["erin"]
    own = edx(lms, "at-erin-0").enrollments.get_student_enrollments()
    assert own.is_enrolled_in(NEW_RUN)


def test_an_invalid_learner_is_400_naming_the_field(lms, control):
    learner = control(lms, "GET", "learners/bob").json()
    learner["grades"][0]["percent"] = "high"

    answer = control(lms, "PUT", "learners/bob", json=learner)

    assert answer.status_code == 400
    assert "grades[0].percent" in answer.json()["error"]


def test_a_learner_cannot_take_another_learners_token(lms, control):
    learner = control(lms, "GET", "learners/bob").json()
    learner["access_token"] = "at-alice-0"

    answer = control(lms, "PUT", "learners/bob", json=learner)

    assert answer.status_code == 409


def test_revoking_a_learner_at_run_time_refuses_their_token(lms, control):
    learner = control(lms, "GET", "learners/alice").json()
    learner["revoked"] = True

    control(lms, "PUT", "learners/alice", json=learner)

    assert grade_status(lms, "alice") == 401


def test_unknown_routes_are_404(lms):
    assert requests.get(f"{lms.url}api/no/such/thing", timeout=5).status_code == 404


def test_a_new_learner_without_tokens_is_400(lms, control):
    answer = control(lms, "PUT", "learners/erin", json={"email": "erin@example.com"})

    assert answer.status_code == 400
    assert "access_token" in answer.json()["error"]
