"""The current grades endpoint: one learner's grade, and a course run's grades by page."""

import pytest
import requests

from sandbox.dataset import generate

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"


def test_a_learner_reads_their_grade(lms, edx):
    grade = edx(lms, "at-alice-0").current_grades.get_student_current_grade("alice", DEMO)

    assert (grade.username, grade.course_id) == ("alice", DEMO)
    assert grade.percent == 0.42
    assert grade.passed is False
    assert grade.letter_grade is None
    assert grade.email == "alice@example.com"


def test_a_course_the_learner_did_not_take_is_404_not_enrolled(lms, edx):
    with pytest.raises(requests.HTTPError) as missing:
        edx(lms, "at-bob-0").current_grades.get_student_current_grade("bob", DEMO)

    assert missing.value.response.status_code == 404
    assert missing.value.response.json()["error_code"] == "user_not_enrolled"


def test_an_unknown_learner_is_404_for_staff(lms, edx, staff_token):
    with pytest.raises(requests.HTTPError) as missing:
        edx(lms, staff_token).current_grades.get_student_current_grade("zoe", ANALOG)

    assert missing.value.response.status_code == 404


def test_a_learner_reading_another_learners_grade_is_forbidden(lms, edx):
    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, "at-bob-0").current_grades.get_student_current_grade("alice", ANALOG)

    assert refused.value.response.status_code == 403


def test_a_learners_grades_across_their_enrollments(lms, edx):
    grades = edx(lms, "at-alice-0").current_grades.get_student_current_grades("alice")

    assert {g.course_id: g.percent for g in grades.all_current_grades} == {
        ANALOG: 0.91,
        DEMO: 0.42,
    }


def test_course_grades_are_collected_across_all_pages(run_sandbox, staff_token_for, edx, control):
    sandbox = run_sandbox(generate(learners=250, course_keys=(ANALOG,), revoked=0))
    staff = edx(sandbox, staff_token_for(sandbox))
    control(sandbox, "POST", "stats/reset")

    grades = staff.current_grades.get_course_current_grades(ANALOG)

    assert len(grades.all_usernames) == 250
    assert control(sandbox, "GET", "stats").json()["requests"]["grades"] == 3


def test_course_grade_pages_follow_page_and_page_size(lms, staff_token):
    headers = {"Authorization": f"Bearer {staff_token}"}
    url = f"{lms.url}api/grades/v1/courses/{ANALOG}/?page_size=3"

    first = requests.get(url, headers=headers, timeout=5).json()
    second = requests.get(first["next"], headers=headers, timeout=5).json()

    assert [g["username"] for g in first["results"]] == ["alice", "bob", "carol"]
    assert [g["username"] for g in second["results"]] == ["dave"]
    assert first["previous"] is None
    assert second["next"] is None
    assert "page=2" in first["next"]
    assert f"/courses/{ANALOG}/" in first["next"]


def test_a_page_past_the_end_is_404(lms, staff_token):
    answer = requests.get(
        f"{lms.url}api/grades/v1/courses/{ANALOG}/?page=9",
        headers={"Authorization": f"Bearer {staff_token}"},
        timeout=5,
    )

    assert answer.status_code == 404


def test_course_grades_need_a_staff_token(lms, edx):
    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, "at-alice-0").current_grades.get_course_current_grades(ANALOG)

    assert refused.value.response.status_code == 403


def test_an_unknown_course_run_is_404(lms, edx, staff_token):
    with pytest.raises(requests.HTTPError) as missing:
        edx(lms, staff_token).current_grades.get_course_current_grades("course-v1:No+Such+Run")

    assert missing.value.response.status_code == 404
    assert missing.value.response.json()["error_code"] == "course_does_not_exist"


def test_a_percent_encoded_course_id_reaches_the_same_grade(lms):
    encoded = ANALOG.replace(":", "%3A").replace("+", "%2B")

    answer = requests.get(
        f"{lms.url}api/grades/v1/courses/{encoded}/?username=bob",
        headers={"Authorization": "Bearer at-bob-0"},
        timeout=5,
    )

    assert answer.json()[0]["percent"] == 0.67


def test_a_legacy_slash_separated_course_id_is_routed(run_sandbox, edx):
    sandbox = run_sandbox(generate(learners=2, course_keys=("MITx/6.002x/2012_Fall",), revoked=0))

    grade = edx(sandbox, "at-learner00001-0").current_grades.get_student_current_grade(
        "learner00001", "MITx/6.002x/2012_Fall"
    )

    assert grade.course_id == "MITx/6.002x/2012_Fall"
