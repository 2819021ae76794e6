"""The enrollment endpoints: a learner's own, and the cursor-paginated list."""

import pytest
import requests

from sandbox.dataset import generate

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"


@pytest.fixture
def big_lms(run_sandbox):
    """250 generated learners in two course runs: three default pages per course."""
    return run_sandbox(generate(learners=250, course_keys=(ANALOG, DEMO), revoked=0))


def test_a_learner_reads_their_enrollments_with_course_details(lms, edx):
    enrollments = edx(lms, "at-alice-0").enrollments.get_student_enrollments()

    assert set(enrollments.get_enrolled_course_ids()) == {ANALOG, DEMO}
    analog = enrollments.get_enrollment_for_course(ANALOG)
    assert analog.mode == "verified"
    assert analog.is_active
    assert analog.course_details.course_start.year == 2015
    assert [mode.slug for mode in analog.course_details.course_modes] == ["verified"]


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


def test_the_list_has_the_flat_edx_shape(lms, staff_token):
    answer = requests.get(
        f"{lms.url}api/enrollment/v1/enrollments",
        params={"course_id": DEMO},
        headers={"Authorization": f"Bearer {staff_token}"},
        timeout=5,
    )

    assert answer.json() == {
        "next": None,
        "previous": None,
        "results": [
            {
                "course_id": DEMO,
                "created": "2014-12-02T09:15:00Z",
                "is_active": True,
                "mode": "verified",
                "user": "alice",
            }
        ],
    }


def test_page_size_is_honoured_and_capped_at_1000(run_sandbox, staff_token_for):
    sandbox = run_sandbox(generate(learners=1200, revoked=0))
    headers = {"Authorization": f"Bearer {staff_token_for(sandbox)}"}
    url = f"{sandbox.url}api/enrollment/v1/enrollments"

    small = requests.get(url, params={"page_size": 7}, headers=headers, timeout=5).json()
    huge = requests.get(url, params={"page_size": 5000}, headers=headers, timeout=5).json()

    assert len(small["results"]) == 7
    assert "page_size=7" in small["next"]
    assert len(huge["results"]) == 1000


def test_previous_links_back_to_the_earlier_page(lms, staff_token):
    headers = {"Authorization": f"Bearer {staff_token}"}
    url = f"{lms.url}api/enrollment/v1/enrollments"
    first = requests.get(url, params={"page_size": 2}, headers=headers, timeout=5).json()

    second = requests.get(first["next"], headers=headers, timeout=5).json()
    back = requests.get(second["previous"], headers=headers, timeout=5).json()

    assert back["results"] == first["results"]
    assert second["results"] != first["results"]


def test_staff_filter_the_list_by_usernames(lms, edx, staff_token):
    enrollments = edx(lms, staff_token).enrollments.get_enrollments(usernames=["bob", "alice"])

    assert sorted((e.user, e.course_id) for e in enrollments) == [
        ("alice", ANALOG),
        ("alice", DEMO),
        ("bob", ANALOG),
    ]


def test_a_learners_list_shows_only_their_own_enrollments(lms, edx):
    enrollments = list(edx(lms, "at-bob-0").enrollments.get_enrollments(course_id=ANALOG))

    assert [(e.user, e.course_id) for e in enrollments] == [("bob", ANALOG)]


def test_a_learner_listing_someone_elses_enrollments_is_forbidden(lms, edx):
    with pytest.raises(requests.HTTPError) as refused:
        list(edx(lms, "at-bob-0").enrollments.get_enrollments(usernames=["alice"]))

    assert refused.value.response.status_code == 403


def test_a_forged_cursor_is_404(lms, staff_token):
    answer = requests.get(
        f"{lms.url}api/enrollment/v1/enrollments",
        params={"cursor": "not-a-cursor"},
        headers={"Authorization": f"Bearer {staff_token}"},
        timeout=5,
    )

    assert answer.status_code == 404
