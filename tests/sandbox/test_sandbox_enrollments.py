"""The enrollment API: a learner's own enrollments, and the staff listing."""

import base64

import pytest
import requests

from sandbox.dataset import generate

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"
LIST = "api/enrollment/v1/enrollments"


@pytest.fixture
def big_lms(run_sandbox):
    """250 generated learners in two course runs: three pages of 100 per course."""
    return run_sandbox(generate(learners=250, course_keys=(ANALOG, DEMO), revoked=0))


def deactivate(dataset, username, course_id):
    for enrollment in dataset["learners"][username]["enrollments"]:
        if enrollment["course_details"]["course_id"] == course_id:
            enrollment["is_active"] = False


def test_a_learner_reads_their_enrollments_with_course_details(lms, edx):
    enrollments = edx(lms, "at-alice-0").enrollments.get_student_enrollments()

    assert set(enrollments.get_enrolled_course_ids()) == {ANALOG, DEMO}
    analog = enrollments.get_enrollment_for_course(ANALOG)
    assert analog.mode == "verified"
    assert analog.is_active
    assert analog.course_details.course_start.year == 2015
    assert [mode.slug for mode in analog.course_details.course_modes] == ["verified"]


def test_a_learners_own_enrollments_are_the_active_ones(run_sandbox, dataset, get):
    """enrollments/views.py EnrollmentListView.get calls api.get_enrollments(username), whose
    include_inactive is False."""
    deactivate(dataset, "alice", DEMO)
    sandbox = run_sandbox(dataset)

    answer = get(sandbox, "api/enrollment/v1/enrollment", "at-alice-0").json()

    assert [e["course_details"]["course_id"] for e in answer] == [ANALOG]
    assert set(answer[0]) == {"created", "mode", "is_active", "course_details", "user"}


def test_a_learner_asking_for_someone_elses_enrollments_gets_none(lms, get):
    """EnrollmentListView.get: for another user only the courses where the requester is
    course staff are listed, so an empty list, not a 403."""
    answer = get(lms, "api/enrollment/v1/enrollment?user=bob", "at-alice-0")

    assert (answer.status_code, answer.json()) == (200, [])


def test_staff_read_a_learners_enrollments_with_user(lms, get, staff_token):
    answer = get(lms, "api/enrollment/v1/enrollment?user=bob", staff_token).json()

    assert [e["user"] for e in answer] == ["bob"]


def test_the_own_enrollments_url_has_no_trailing_slash(lms, get):
    """enrollments/urls.py: r'^enrollment$'."""
    assert get(lms, "api/enrollment/v1/enrollment/", "at-alice-0").status_code == 404


def test_the_course_list_is_walked_completely_through_its_cursor_pages(
    big_lms, staff_token_for, edx, control
):
    staff = edx(big_lms, staff_token_for(big_lms))
    control(big_lms, "POST", "stats/reset")

    enrollments = list(staff.enrollments.get_enrollments(course_id=ANALOG))

    assert len(enrollments) == 250
    assert {e.user for e in enrollments} == {f"learner{n:05d}" for n in range(1, 251)}
    assert {e.course_id for e in enrollments} == {ANALOG}
    assert control(big_lms, "GET", "stats").json()["requests"]["enrollments"] == 3


def test_the_list_has_the_flat_edx_shape(lms, get, staff_token):
    """enrollments/serializers.py CourseEnrollmentsApiListSerializer."""
    answer = get(lms, LIST, staff_token, params={"course_id": DEMO})

    assert answer.json() == {
        "next": None,
        "previous": None,
        "results": [
            {
                "created": "2014-12-02T09:15:00Z",
                "mode": "verified",
                "is_active": True,
                "user": "alice",
                "course_id": DEMO,
            }
        ],
    }


def test_the_list_pages_by_100_and_ignores_page_size(big_lms, staff_token_for, get):
    """enrollments/paginators.py CourseEnrollmentsApiListPagination: page_size = 100 and no
    page_size_query_param."""
    token = staff_token_for(big_lms)

    answer = get(big_lms, LIST, token, params={"course_id": ANALOG, "page_size": 7}).json()

    assert len(answer["results"]) == 100
    assert answer["previous"] is None


def test_the_list_is_newest_enrollment_first(big_lms, staff_token_for, get):
    """DRF CursorPagination's default ordering, "-created" (the paginator sets none)."""
    answer = get(big_lms, LIST, staff_token_for(big_lms), params={"course_id": ANALOG}).json()

    created = [row["created"] for row in answer["results"]]
    assert created == sorted(created, reverse=True)


def test_the_cursor_is_drfs_position_cursor(big_lms, staff_token_for, get):
    """DRF CursorPagination.encode_cursor: base64 of p=<created of the last row seen>."""
    answer = get(big_lms, LIST, staff_token_for(big_lms), params={"course_id": ANALOG}).json()
    cursor = requests.utils.urlparse(answer["next"]).query.split("cursor=")[1].split("&")[0]

    decoded = base64.b64decode(requests.utils.unquote(cursor)).decode()

    assert decoded.startswith("p=")
    assert "2014" in requests.utils.unquote(decoded) or "2015" in requests.utils.unquote(decoded)


def test_a_learner_enrolled_between_two_pages_neither_repeats_nor_skips_a_row(
    big_lms, staff_token_for, get, control
):
    """A position cursor: rows after the last one seen, whatever was added before it."""
    token = staff_token_for(big_lms)
    first = get(big_lms, LIST, token, params={"course_id": ANALOG}).json()
    newest = control(big_lms, "GET", "learners/learner00001").json()
    newest["enrollments"][0]["created"] = "2030-01-01T00:00:00Z"
    control(big_lms, "PUT", "learners/learner00001", json=newest)
    second = get(big_lms, first["next"], token).json()
    first_users = {row["user"] for row in first["results"]}

    assert not first_users & {row["user"] for row in second["results"]}
    assert len(second["results"]) == 100


def test_previous_links_back_to_the_earlier_page(big_lms, staff_token_for, get):
    token = staff_token_for(big_lms)
    first = get(big_lms, LIST, token, params={"course_id": ANALOG}).json()

    second = get(big_lms, first["next"], token).json()
    back = get(big_lms, second["previous"], token).json()

    assert back["results"] == first["results"]
    assert second["results"] != first["results"]


def test_rows_sharing_one_creation_time_are_paged_by_offset(run_sandbox, staff_token_for, get):
    """CursorPagination.get_next_link: when the page ends inside a run of equal positions
    the cursor counts an offset past them."""
    data = generate(learners=230, revoked=0)
    for learner in data["learners"].values():
        learner["enrollments"][0]["created"] = "2015-01-01T00:00:00Z"
    sandbox = run_sandbox(data)
    token = staff_token_for(sandbox)

    users, url = [], LIST
    while url:
        page = get(sandbox, url, token).json()
        users += [row["user"] for row in page["results"]]
        url = page["next"]

    assert sorted(users) == sorted(data["learners"])


def test_staff_filter_the_list_by_usernames(lms, edx, staff_token):
    enrollments = edx(lms, staff_token).enrollments.get_enrollments(usernames=["bob", "alice"])

    assert sorted((e.user, e.course_id) for e in enrollments) == [
        ("alice", ANALOG),
        ("alice", DEMO),
        ("bob", ANALOG),
    ]


def test_the_list_shows_inactive_enrollments_too(run_sandbox, dataset, get, staff_token_for):
    """CourseEnrollmentsApiListView.get_queryset filters by course and users only."""
    deactivate(dataset, "bob", ANALOG)
    sandbox = run_sandbox(dataset)

    rows = get(sandbox, LIST, staff_token_for(sandbox), params={"username": "bob"}).json()

    assert [(row["user"], row["is_active"]) for row in rows["results"]] == [("bob", False)]


def test_the_list_is_for_staff_only(lms, get):
    """CourseEnrollmentsApiListView.permission_classes = (IsAdminUser,); a
    DeveloperErrorViewMixin view, so the body is a developer_message."""
    answer = get(lms, LIST, "at-bob-0", params={"course_id": ANALOG})

    assert answer.status_code == 403
    assert answer.json() == {
        "developer_message": "You do not have permission to perform this action."
    }


def test_the_list_without_credentials_is_401_with_a_developer_message(lms, get):
    answer = get(lms, LIST)

    assert answer.status_code == 401
    assert answer.json() == {"developer_message": "Authentication credentials were not provided."}


def test_the_list_url_takes_a_trailing_slash_too(lms, get, staff_token):
    """enrollments/urls.py: r'^enrollments/?$'."""
    assert get(lms, f"{LIST}/", staff_token).status_code == 200


def test_one_invalid_username_fails_the_whole_request(lms, get, staff_token):
    """enrollments/forms.py CourseEnrollmentsApiListForm.clean_username runs
    registration_form.validate_username (Django's slug_re) on every name."""
    answer = get(lms, LIST, staff_token, params={"username": "alice,jo.smith"})

    assert answer.status_code == 400
    assert answer.json() == {
        "field_errors": {
            "username": {
                "developer_message": "Usernames can only contain letters (A-Z, a-z), "
                "numerals (0-9), underscores (_), and hyphens (-)."
            }
        }
    }


def test_unicode_usernames_allow_dots_and_accents(run_sandbox, dataset, get, staff_token_for):
    """validate_username with ENABLE_UNICODE_USERNAME: USERNAME_REGEX_PARTIAL [\\w .@_+-]+."""
    sandbox = run_sandbox(dataset, unicode_usernames=True)

    answer = get(sandbox, LIST, staff_token_for(sandbox), params={"username": "jo.smith,élise"})

    assert answer.status_code == 200


def test_more_than_100_usernames_fail_the_request(lms, get, staff_token):
    """CourseEnrollmentsApiListForm.MAX_USERNAME_COUNT = 100."""
    names = ",".join(f"learner{n}" for n in range(101))

    answer = get(lms, LIST, staff_token, params={"username": names})

    assert answer.status_code == 400
    assert answer.json()["field_errors"]["username"]["developer_message"] == (
        "Too many usernames in a single request - 101. A maximum of 100 is allowed"
    )


def test_an_invalid_course_id_fails_the_request(lms, get, staff_token):
    """CourseEnrollmentsApiListForm.clean_course_id: CourseKey.from_string."""
    answer = get(lms, LIST, staff_token, params={"course_id": "not a key"})

    assert answer.status_code == 400
    assert answer.json()["field_errors"]["course_id"] == {
        "developer_message": "'not a key' is not a valid course id."
    }


def test_a_forged_cursor_is_404(lms, get, staff_token):
    """CursorPagination.decode_cursor: NotFound("Invalid cursor")."""
    answer = get(lms, LIST, staff_token, params={"cursor": "not-a-cursor"})

    assert answer.status_code == 404
    assert answer.json() == {"developer_message": "Invalid cursor"}


def test_staff_may_list_120_times_a_minute_then_429_without_retry_after(
    lms, get, staff_token, control
):
    """enrollments/views.py EnrollmentUserThrottle (staff scope "120/minute"), DRF's
    SimpleRateThrottle; the view's DeveloperErrorViewMixin.handle_exception answers the 429
    without DRF's Retry-After header (view_utils.py, Redwood to Teak)."""
    answers = [get(lms, LIST, staff_token, params={"course_id": DEMO}) for _ in range(122)]

    assert [a.status_code for a in answers] == [200] * 120 + [429] * 2
    refused = answers[-1]
    assert "Retry-After" not in refused.headers
    assert refused.json()["developer_message"].startswith(
        "Request was throttled. Expected available in "
    )
    stats = control(lms, "GET", "stats").json()
    assert stats["throttled"]["enrollments"] == 2
    assert stats["peak_per_minute"]["enrollments"] == 122


def test_a_learner_may_read_their_enrollments_40_times_a_minute_then_429_with_retry_after(lms, get):
    """EnrollmentUserThrottle's user scope, "40/minute"; EnrollmentListView is a plain DRF
    view, so the 429 has DRF's body and Retry-After."""
    answers = [get(lms, "api/enrollment/v1/enrollment", "at-bob-0") for _ in range(41)]

    assert [a.status_code for a in answers] == [200] * 40 + [429]
    refused = answers[-1]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["detail"] == (
        f"Request was throttled. Expected available in {refused.headers['Retry-After']} seconds."
    )


def test_the_throttle_is_per_learner(lms, get):
    for _ in range(40):
        get(lms, "api/enrollment/v1/enrollment", "at-bob-0")

    assert get(lms, "api/enrollment/v1/enrollment", "at-alice-0").status_code == 200


def test_raised_rates_are_an_option(run_sandbox, dataset, get, staff_token_for):
    sandbox = run_sandbox(dataset, rates={"enrollments_staff": "1000/minute"})
    token = staff_token_for(sandbox)

    statuses = {get(sandbox, LIST, token).status_code for _ in range(130)}

    assert statuses == {200}


def test_throttles_off_is_an_option(run_sandbox, dataset, get):
    sandbox = run_sandbox(dataset, throttles="off")

    statuses = {
        get(sandbox, "api/enrollment/v1/enrollment", "at-bob-0").status_code for _ in range(45)
    }

    assert statuses == {200}


def test_staff_read_one_learners_enrollment_in_a_run_active_or_not(
    run_sandbox, dataset, get, staff_token_for
):
    """enrollments/views.py EnrollmentView.get (urls.py: enrollment/{username},{course_id})
    returns api.get_enrollment(username, course_id): the enrollment whether active or not,
    with CourseEnrollmentSerializer's fields."""
    deactivate(dataset, "alice", DEMO)
    sandbox = run_sandbox(dataset)
    token = staff_token_for(sandbox)

    active = get(sandbox, f"api/enrollment/v1/enrollment/alice,{ANALOG}", token)
    inactive = get(sandbox, f"api/enrollment/v1/enrollment/alice,{DEMO}", token)

    assert active.status_code == 200
    assert (active.json()["is_active"], active.json()["user"]) == (True, "alice")
    assert set(active.json()) == {"created", "mode", "is_active", "course_details", "user"}
    assert inactive.json()["is_active"] is False


def test_one_enrollment_that_does_not_exist_is_an_empty_200(lms, get, staff_token):
    """enrollments/data.py get_course_enrollment returns None when there is no
    CourseEnrollment, and EnrollmentView.get answers Response(None): 200, no body."""
    answer = get(lms, "api/enrollment/v1/enrollment/nobody,course-v1:edX+None+1", staff_token)

    assert (answer.status_code, answer.content) == (200, b"")


def test_someone_elses_one_enrollment_is_a_404_to_a_learner(lms, get):
    """EnrollmentView.get: a user looking up another user's enrollment, not staff and with
    no API key, gets a bare 404 ("do not let them deduce the existence of an enrollment"),
    while their own is answered."""
    other = get(lms, f"api/enrollment/v1/enrollment/bob,{ANALOG}", "at-alice-0")
    own = get(lms, f"api/enrollment/v1/enrollment/alice,{ANALOG}", "at-alice-0")

    assert (other.status_code, other.content) == (404, b"")
    assert (own.status_code, own.json()["user"]) == (200, "alice")
