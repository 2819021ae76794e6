"""The certificates endpoint: one learner's certificate for one course run."""

import pytest
import requests

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"


def test_a_learner_reads_their_certificate(lms, edx):
    certificate = edx(lms, "at-alice-0").certificates.get_student_certificate("alice", ANALOG)

    assert (certificate.username, certificate.course_id) == ("alice", ANALOG)
    assert certificate.status == "downloadable"
    assert certificate.is_verified
    assert certificate.is_passing is True
    assert certificate.created.year == 2015


def test_no_certificate_is_404_no_certificate_for_user(lms, edx):
    with pytest.raises(requests.HTTPError) as missing:
        edx(lms, "at-alice-0").certificates.get_student_certificate("alice", DEMO)

    assert missing.value.response.status_code == 404
    assert missing.value.response.json()["error_code"] == "no_certificate_for_user"


def test_a_learner_reading_another_learners_certificate_is_forbidden(lms, edx):
    with pytest.raises(requests.HTTPError) as refused:
        edx(lms, "at-carol-0").certificates.get_student_certificate("alice", ANALOG)

    assert refused.value.response.status_code == 403


def test_staff_read_any_learners_certificate(lms, edx, staff_token):
    certificate = edx(lms, staff_token).certificates.get_student_certificate("bob", ANALOG)

    assert certificate.username == "bob"


def test_the_clients_certificate_listing_skips_courses_without_one(lms, edx):
    certificates = edx(lms, "at-alice-0").certificates.get_student_certificates("alice")

    assert list(certificates.all_courses_certs) == [ANALOG]
