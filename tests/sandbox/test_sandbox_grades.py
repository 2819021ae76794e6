"""The current grades API: one learner's grade, and a course run's grades by cursor page."""

import pytest
import requests

from sandbox.dataset import generate

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"
COURSE = f"api/grades/v1/courses/{ANALOG}/"


def all_pages(get, sandbox, token, url):
    rows = []
    while url:
        page = get(sandbox, url, token).json()
        rows += page["results"]
        url = page["next"]
    return rows


def enroll_without_grade(dataset, username, course_id, mode="verified"):
    learner = dataset["learners"][username]
    enrollment = dict(learner["enrollments"][0])
    enrollment["course_details"] = {**enrollment["course_details"], "course_id": course_id}
    enrollment["mode"] = mode
    learner["enrollments"].append(enrollment)


def test_a_learner_reads_their_grade(lms, edx):
    grade = edx(lms, "at-alice-0").current_grades.get_student_current_grade("alice", DEMO)

    assert (grade.username, grade.course_id) == ("alice", DEMO)
    assert (grade.percent, grade.passed, grade.letter_grade) == (0.42, False, None)


def test_a_learners_own_grade_has_no_email(lms, get):
    """grades/rest_api/v1/utils.py GradeViewMixin._serialize_user_grade shows the email only
    for a masters-track enrollment, and _get_single_user never sets the mode: empty."""
    answer = get(lms, f"{COURSE}?username=alice", "at-alice-0").json()

    assert answer == [
        {
            "username": "alice",
            "email": "",
            "course_id": ANALOG,
            "passed": True,
            "percent": 0.91,
            "letter_grade": "Pass",
        }
    ]


def test_a_learner_who_never_started_has_a_zero_grade(run_sandbox, dataset, get):
    """grades/course_grade_factory.py CourseGradeFactory.read: "Reads the value from storage
    or creates an initial value of zero" (ZeroCourseGrade: 0.0, not passed, no letter)."""
    enroll_without_grade(dataset, "bob", DEMO)
    sandbox = run_sandbox(dataset)

    answer = get(sandbox, f"api/grades/v1/courses/{DEMO}/?username=bob", "at-bob-0")

    assert answer.status_code == 200
    assert answer.json()[0] == {
        "username": "bob",
        "email": "",
        "course_id": DEMO,
        "passed": False,
        "percent": 0.0,
        "letter_grade": None,
    }


def test_the_course_listing_gives_a_learner_who_never_started_a_zero_grade(
    run_sandbox, dataset, get, staff_token_for
):
    enroll_without_grade(dataset, "bob", DEMO)
    sandbox = run_sandbox(dataset)

    rows = get(sandbox, f"api/grades/v1/courses/{DEMO}/", staff_token_for(sandbox)).json()

    assert {r["username"]: r["percent"] for r in rows["results"]} == {"alice": 0.42, "bob": 0.0}


def test_a_course_the_learner_is_not_enrolled_in_is_404_user_not_enrolled(lms, get):
    """GradeViewMixin._get_user_or_raise: CourseEnrollment.DoesNotExist."""
    answer = get(lms, f"api/grades/v1/courses/{DEMO}/?username=bob", "at-bob-0")

    assert answer.status_code == 404
    assert answer.json() == {
        "developer_message": (
            "The user matching the requested username is not enrolled in this course"
        ),
        "error_code": "user_not_enrolled",
    }


def test_an_unknown_learner_is_404_user_does_not_exist(lms, get, staff_token):
    answer = get(lms, f"{COURSE}?username=zoe", staff_token)

    assert answer.status_code == 404
    assert answer.json()["error_code"] == "user_does_not_exist"


def test_an_inactive_enrollment_still_has_a_grade_for_the_learner(run_sandbox, dataset, get):
    """_get_single_user looks up CourseEnrollment without is_active."""
    dataset["learners"]["bob"]["enrollments"][0]["is_active"] = False
    sandbox = run_sandbox(dataset)

    answer = get(sandbox, f"{COURSE}?username=bob", "at-bob-0")

    assert answer.json()[0]["percent"] == 0.67


def test_the_course_listing_leaves_out_inactive_enrollments(
    run_sandbox, dataset, get, staff_token_for
):
    """utils.py GradeViewMixin._paginate_course_enrollment filters is_active=True."""
    dataset["learners"]["bob"]["enrollments"][0]["is_active"] = False
    sandbox = run_sandbox(dataset)

    rows = get(sandbox, COURSE, staff_token_for(sandbox)).json()["results"]

    assert [r["username"] for r in rows] == ["alice", "carol", "dave"]


def test_a_learner_reading_another_learners_grade_is_forbidden(lms, get):
    """JWT_RESTRICTED_APPLICATION_OR_USER_ACCESS: IsStaff | IsUserInUrl."""
    answer = get(lms, f"{COURSE}?username=alice", "at-bob-0")

    assert answer.status_code == 403
    assert answer.json() == {
        "developer_message": "You do not have permission to perform this action."
    }


def test_the_username_check_ignores_case(lms, get):
    """edx-drf-extensions IsUserInUrl lowercases both names."""
    answer = get(lms, f"{COURSE}?username=Bob", "at-bob-0")

    assert answer.status_code == 404  # allowed, then no user "Bob"


def test_anonymous_requests_are_401_incorrect_credentials(lms, get):
    """GradeViewMixin.perform_authentication raises AuthenticationFailed for the anonymous."""
    answer = get(lms, f"{COURSE}?username=bob")

    assert answer.status_code == 401
    assert answer.json() == {"developer_message": "Incorrect authentication credentials."}


def test_a_learners_grades_across_their_enrollments(lms, edx):
    grades = edx(lms, "at-alice-0").current_grades.get_student_current_grades("alice")

    assert {g.course_id: g.percent for g in grades.all_current_grades} == {
        ANALOG: 0.91,
        DEMO: 0.42,
    }


def test_course_grades_are_collected_across_all_pages(run_sandbox, staff_token_for, edx, control):
    """utils.py CourseEnrollmentPagination.page_size = 50."""
    sandbox = run_sandbox(generate(learners=250, course_keys=(ANALOG,), revoked=0))
    staff = edx(sandbox, staff_token_for(sandbox))
    control(sandbox, "POST", "stats/reset")

    grades = staff.current_grades.get_course_current_grades(ANALOG)

    assert len(grades.all_usernames) == 250
    assert control(sandbox, "GET", "stats").json()["requests"]["grades"] == 5


def test_course_grades_are_in_enrollment_order_with_cursor_pages(lms, get, staff_token):
    """CourseEnrollmentPagination is a CursorPagination ordered by "id"; the cursor holds the
    last enrollment id seen."""
    first = get(lms, f"{COURSE}?page_size=3", staff_token).json()
    second = get(lms, first["next"], staff_token).json()

    assert [g["username"] for g in first["results"]] == ["alice", "bob", "carol"]
    assert [g["username"] for g in second["results"]] == ["dave"]
    assert (first["previous"], second["next"]) == (None, None)
    assert "cursor=" in first["next"] and "page_size=3" in first["next"]
    assert f"/courses/{ANALOG}/" in first["next"]


def test_page_size_is_honoured_without_a_maximum(run_sandbox, staff_token_for, get):
    """CourseEnrollmentPagination.get_page_size: int(page_size), no max_page_size."""
    sandbox = run_sandbox(generate(learners=1200, revoked=0))
    token = staff_token_for(sandbox)

    page = get(sandbox, f"{COURSE}?page_size=1100", token).json()

    assert len(page["results"]) == 1100


def test_the_page_parameter_is_ignored(lms, get, staff_token):
    """A CursorPagination has no page numbers."""
    answer = get(lms, f"{COURSE}?page=9", staff_token)

    assert [g["username"] for g in answer.json()["results"]] == ["alice", "bob", "carol", "dave"]


def test_a_page_size_of_zero_is_a_server_error(lms, get, staff_token):
    """paginate_queryset returns None for page size 0 and the view iterates it."""
    assert get(lms, f"{COURSE}?page_size=0", staff_token).status_code == 500


def test_a_learner_added_between_two_pages_comes_last(lms, get, staff_token, control):
    """A new CourseEnrollment has the highest id: a position cursor neither repeats nor
    skips a row."""
    first = get(lms, f"{COURSE}?page_size=2", staff_token).json()
    erin = control(lms, "GET", "learners/bob").json()
    for key in ("enrollments", "grades", "certificates"):
        for record in erin[key]:
            record["user" if key == "enrollments" else "username"] = "erin"
    control(
        lms,
        "PUT",
        "learners/erin",
        json={**erin, "access_token": "at-erin-0", "refresh_token": "rt-erin-0"},
    )

    rows = first["results"] + all_pages(get, lms, staff_token, first["next"])

    assert [r["username"] for r in rows] == ["alice", "bob", "carol", "dave", "erin"]


def test_a_masters_learners_email_shows_in_the_course_listing(
    run_sandbox, dataset, get, staff_token_for
):
    """_serialize_user_grade: "email should only be visible for students in masters track"."""
    dataset["learners"]["carol"]["enrollments"][0]["mode"] = "masters"
    sandbox = run_sandbox(dataset)

    rows = get(sandbox, COURSE, staff_token_for(sandbox)).json()["results"]

    assert {r["username"]: r["email"] for r in rows} == {
        "alice": "",
        "bob": "",
        "carol": "carol@example.com",
        "dave": "",
    }


def test_a_learner_whose_grade_read_fails_is_left_out_of_the_listing(
    run_sandbox, dataset, get, staff_token_for
):
    """views.py CourseGradesView._get_user_grades keeps only `if not exc` results of
    CourseGradeFactory().iter; fault {"read_error": true} makes that learner's read raise."""
    dataset["learners"]["bob"]["faults"] = {"grades": {"read_error": True}}
    sandbox = run_sandbox(dataset)

    rows = get(sandbox, COURSE, staff_token_for(sandbox)).json()["results"]

    assert [r["username"] for r in rows] == ["alice", "carol", "dave"]


def test_a_learner_whose_grade_read_fails_gets_a_server_error_for_their_own(
    run_sandbox, dataset, get
):
    """_get_single_user_grade calls CourseGradeFactory().read directly: the error is a 500."""
    dataset["learners"]["bob"]["faults"] = {"grades": {"read_error": True}}
    sandbox = run_sandbox(dataset)

    assert get(sandbox, f"{COURSE}?username=bob", "at-bob-0").status_code == 500


def test_a_read_error_with_times_drops_the_learner_that_many_times(
    run_sandbox, dataset, get, staff_token_for
):
    dataset["faults"] = {"grades": {"read_error": True, "times": 2}}
    sandbox = run_sandbox(dataset)
    token = staff_token_for(sandbox)

    sizes = [len(get(sandbox, COURSE, token).json()["results"]) for _ in range(2)]

    assert sizes == [2, 4]


def test_course_grades_need_a_staff_token(lms, edx):
    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, "at-alice-0").current_grades.get_course_current_grades(ANALOG)

    assert refused.value.response.status_code == 403


def test_an_unknown_course_run_is_404_course_does_not_exist(lms, get, staff_token):
    """view_utils.py verify_course_exists("Requested grade for unknown course {course}")."""
    answer = get(lms, "api/grades/v1/courses/course-v1:No+Such+Run/", staff_token)

    assert answer.status_code == 404
    assert answer.json() == {
        "developer_message": "Requested grade for unknown course course-v1:No+Such+Run",
        "error_code": "course_does_not_exist",
    }


def test_a_course_id_that_does_not_parse_is_404_invalid_course_key(lms, get, staff_token):
    answer = get(lms, "api/grades/v1/courses/not-a-key/", staff_token)

    assert answer.json()["error_code"] == "invalid_course_key"


def test_the_course_id_may_be_a_query_parameter(lms, get, staff_token):
    """grades/rest_api/v1/urls.py: 'courses/' with ?course_id= (view_utils.get_course_key)."""
    answer = get(lms, "api/grades/v1/courses/", staff_token, params={"course_id": DEMO})

    assert [g["username"] for g in answer.json()["results"]] == ["alice"]


def test_a_url_without_its_trailing_slash_is_redirected(lms, get):
    """urls.py ends the pattern with '/$'; Django's APPEND_SLASH answers 301."""
    answer = get(
        lms, f"api/grades/v1/courses/{ANALOG}?username=bob", "at-bob-0", allow_redirects=False
    )

    assert answer.status_code == 301
    assert answer.headers["Location"].endswith(f"/courses/{ANALOG}/?username=bob")


def test_a_percent_encoded_course_id_reaches_the_same_grade(lms, get):
    encoded = ANALOG.replace(":", "%3A").replace("+", "%2B")

    answer = get(lms, f"api/grades/v1/courses/{encoded}/?username=bob", "at-bob-0")

    assert answer.json()[0]["percent"] == 0.67


def test_a_legacy_slash_separated_course_id_is_routed(run_sandbox, edx):
    sandbox = run_sandbox(generate(learners=2, course_keys=("MITx/6.002x/2012_Fall",), revoked=0))

    grade = edx(sandbox, "at-learner00001-0").current_grades.get_student_current_grade(
        "learner00001", "MITx/6.002x/2012_Fall"
    )

    assert grade.course_id == "MITx/6.002x/2012_Fall"


def test_grades_are_not_throttled(lms, get, staff_token):
    """CourseGradesView sets no throttle_classes and edX's REST_FRAMEWORK has no default."""
    statuses = {get(lms, COURSE, staff_token).status_code for _ in range(130)}

    assert statuses == {200}
