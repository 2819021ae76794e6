"""The OAuth2 token endpoint: refresh rotation, client credentials, refusals."""

import pytest
import requests

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"


def refresh(oauth, lms, refresh_token, secret="sandbox-secret"):
    return oauth(
        lms,
        grant_type="refresh_token",
        client_id="gradefreeze",
        client_secret=secret,
        refresh_token=refresh_token,
    )


def test_refresh_issues_a_new_token_pair(lms, oauth):
    answer = refresh(oauth, lms, "rt-alice-0")

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 36000
    assert body["scope"] == "read write"
    assert body["access_token"] not in ("", "at-alice-0")
    assert body["refresh_token"] not in ("", "rt-alice-0")


def test_new_access_token_reads_the_learners_grade(lms, oauth, edx):
    token = refresh(oauth, lms, "rt-alice-0").json()["access_token"]

    grade = edx(lms, token).current_grades.get_student_current_grade("alice", ANALOG)

    assert grade.percent == 0.91


def test_a_used_refresh_token_is_refused(lms, oauth):
    refresh(oauth, lms, "rt-alice-0")

    again = refresh(oauth, lms, "rt-alice-0")

    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_the_new_refresh_token_rotates_again(lms, oauth):
    second = refresh(oauth, lms, "rt-alice-0").json()["refresh_token"]

    assert refresh(oauth, lms, second).status_code == 200


def test_the_replaced_access_token_stops_working(lms, oauth, edx):
    refresh(oauth, lms, "rt-alice-0")

    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, "at-alice-0").current_grades.get_student_current_grade("alice", ANALOG)

    assert refused.value.response.status_code == 401


def test_the_access_token_from_the_data_file_works_until_rotated(lms, edx):
    grade = edx(lms, "at-bob-0").current_grades.get_student_current_grade("bob", ANALOG)

    assert grade.username == "bob"


def test_client_credentials_give_a_staff_token_without_refresh_token(lms, oauth, edx):
    answer = oauth(
        lms,
        grant_type="client_credentials",
        client_id="gradefreeze",
        client_secret="sandbox-secret",
    )

    assert answer.status_code == 200
    assert "refresh_token" not in answer.json()
    staff = edx(lms, answer.json()["access_token"])
    assert staff.current_grades.get_student_current_grade("carol", ANALOG).percent == 0.12


def test_a_non_staff_client_token_may_not_read_learner_data(lms, oauth, edx):
    answer = oauth(
        lms,
        grant_type="client_credentials",
        client_id="reporting",
        client_secret="reporting-secret",
    )

    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, answer.json()["access_token"]).current_grades.get_student_current_grade(
            "carol", ANALOG
        )

    assert refused.value.response.status_code == 403


def test_http_basic_client_authentication_is_accepted(lms):
    answer = requests.post(
        f"{lms.url}oauth2/access_token",
        data={"grant_type": "refresh_token", "refresh_token": "rt-bob-0"},
        auth=("gradefreeze", "sandbox-secret"),
        timeout=5,
    )

    assert answer.status_code == 200


@pytest.mark.parametrize("client_id, secret", [("gradefreeze", "wrong"), ("nobody", "x")])
def test_an_unknown_client_is_refused(lms, oauth, client_id, secret):
    answer = oauth(
        lms,
        grant_type="refresh_token",
        client_id=client_id,
        client_secret=secret,
        refresh_token="rt-alice-0",
    )

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_client"}


def test_a_refused_client_does_not_rotate_the_learners_tokens(lms, oauth):
    refresh(oauth, lms, "rt-alice-0", secret="wrong")

    assert refresh(oauth, lms, "rt-alice-0").status_code == 200


def test_an_unsupported_grant_type_is_refused(lms, oauth):
    answer = oauth(lms, grant_type="password", client_id="gradefreeze", username="alice")

    assert answer.status_code == 400
    assert answer.json() == {"error": "unsupported_grant_type"}


def test_a_revoked_learner_cannot_refresh(lms, oauth):
    answer = refresh(oauth, lms, "rt-dave-0")

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_grant"


def test_a_revoked_learners_access_token_is_refused_on_data(lms, edx):
    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, "at-dave-0").current_grades.get_student_current_grade("dave", ANALOG)

    assert refused.value.response.status_code == 401


def test_staff_still_read_a_revoked_learners_grade(lms, edx, staff_token):
    grade = edx(lms, staff_token).current_grades.get_student_current_grade("dave", ANALOG)

    assert grade.percent == 0.88


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Token at-alice-0", "Bearer "])
def test_data_without_a_valid_bearer_token_is_401(lms, header):
    headers = {"Authorization": header} if header else {}

    answer = requests.get(f"{lms.url}api/enrollment/v1/enrollment", headers=headers, timeout=5)

    assert answer.status_code == 401
    assert "detail" in answer.json()
