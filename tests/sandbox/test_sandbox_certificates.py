"""The certificates endpoint: one learner's certificate for one course run."""

import pytest
import requests

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"


def certificate_url(username, course_id=ANALOG):
    return f"api/certificates/v0/certificates/{username}/courses/{course_id}/"


def with_certificate(dataset, username, **changes):
    dataset["learners"][username]["certificates"][0].update(changes)
    return dataset


def test_a_learner_reads_their_certificate_with_edx_fields(lms, get):
    """certificates/apis/v0/views.py CertificatesDetailView.get: exactly these fields, the
    creation time as created_date."""
    answer = get(lms, certificate_url("alice"), "at-alice-0")

    assert answer.json() == {
        "username": "alice",
        "course_id": ANALOG,
        "certificate_type": "verified",
        "created_date": "2015-06-01T10:00:00Z",
        "status": "downloadable",
        "is_passing": True,
        "download_url": "https://sandbox.example.com/certificates/alice",
        "grade": "0.91",
    }


def test_an_older_data_files_created_is_served_as_created_date(run_sandbox, dataset, get):
    record = dataset["learners"]["bob"]["certificates"][0]
    record["created"] = record.pop("created_date")
    record["modified"] = "2015-06-02T10:00:00Z"
    sandbox = run_sandbox(dataset)

    answer = get(sandbox, certificate_url("bob"), "at-bob-0").json()

    assert answer["created_date"] == "2015-06-01T10:00:00Z"
    assert "created" not in answer and "modified" not in answer


def test_the_client_library_reads_the_certificate(lms, edx):
    certificate = edx(lms, "at-alice-0").certificates.get_student_certificate("alice", ANALOG)

    assert (certificate.username, certificate.course_id) == ("alice", ANALOG)
    assert certificate.is_verified and certificate.is_passing is True


def test_a_generating_certificate_is_passing(run_sandbox, dataset, get):
    """certificates/data.py CertificateStatuses.PASSED_STATUSES = (downloadable, generating);
    api.format_certificate_for_user gives a download URL only when downloadable."""
    sandbox = run_sandbox(with_certificate(dataset, "bob", status="generating"))

    answer = get(sandbox, certificate_url("bob"), "at-bob-0").json()

    assert (answer["status"], answer["is_passing"], answer["download_url"]) == (
        "generating",
        True,
        None,
    )


def test_a_notpassing_certificate_has_no_download_url(run_sandbox, dataset, get):
    sandbox = run_sandbox(with_certificate(dataset, "bob", status="notpassing"))

    answer = get(sandbox, certificate_url("bob"), "at-bob-0").json()

    assert (answer["is_passing"], answer["download_url"]) == (False, None)


def test_a_web_certificate_links_to_its_page(run_sandbox, dataset, get):
    """format_certificate_for_user: no stored URL, so get_certificate_url's /certificates/<uuid>."""
    sandbox = run_sandbox(with_certificate(dataset, "bob", download_url=""))

    answer = get(sandbox, certificate_url("bob"), "at-bob-0").json()

    assert answer["download_url"].startswith("/certificates/")


@pytest.mark.parametrize("status", ["audit_passing", "audit_notpassing"])
def test_an_audit_certificate_is_404_no_certificate_for_user(run_sandbox, dataset, get, status):
    """certificates/models.py EligibleCertificateManager leaves audit statuses out."""
    sandbox = run_sandbox(with_certificate(dataset, "bob", status=status))

    answer = get(sandbox, certificate_url("bob"), "at-bob-0")

    assert (answer.status_code, answer.json()) == (404, {"error_code": "no_certificate_for_user"})


def test_no_certificate_is_404_no_certificate_for_user(lms, get):
    answer = get(lms, certificate_url("alice", DEMO), "at-alice-0")

    assert (answer.status_code, answer.json()) == (404, {"error_code": "no_certificate_for_user"})


def configured(dataset, configured):
    dataset["course_runs"] = [{"course_id": ANALOG, "certificates_configured": configured}, DEMO]
    return dataset


def test_a_web_certificate_in_a_run_without_configuration_is_404(run_sandbox, dataset, get):
    """CertificatesDetailView.get: not a PDF certificate and no active web certificate
    configuration: no_certificate_configuration_for_course."""
    sandbox = run_sandbox(with_certificate(configured(dataset, False), "bob", download_url=""))

    answer = get(sandbox, certificate_url("bob"), "at-bob-0")

    assert answer.status_code == 404
    assert answer.json() == {"error_code": "no_certificate_configuration_for_course"}


def test_a_pdf_certificate_needs_no_configuration(run_sandbox, dataset, get):
    sandbox = run_sandbox(configured(dataset, False))

    assert get(sandbox, certificate_url("bob"), "at-bob-0").status_code == 200


def test_a_course_id_that_does_not_parse_is_404_course_id_not_valid(lms, get, staff_token):
    answer = get(lms, certificate_url("bob", "nonsense"), staff_token)

    assert (answer.status_code, answer.json()) == (404, {"error_code": "course_id_not_valid"})


def test_a_learner_reading_another_learners_certificate_is_forbidden(lms, get):
    """JWT_RESTRICTED_APPLICATION_OR_USER_ACCESS on a plain DRF view: {"detail": ...}."""
    answer = get(lms, certificate_url("alice"), "at-carol-0")

    assert answer.status_code == 403
    assert answer.json() == {"detail": "You do not have permission to perform this action."}


def test_staff_read_any_learners_certificate(lms, edx, staff_token):
    certificate = edx(lms, staff_token).certificates.get_student_certificate("bob", ANALOG)

    assert certificate.username == "bob"


def test_the_clients_certificate_listing_skips_courses_without_one(lms, edx):
    certificates = edx(lms, "at-alice-0").certificates.get_student_certificates("alice")

    assert list(certificates.all_courses_certs) == [ANALOG]


def test_a_url_without_its_trailing_slash_is_redirected(lms):
    answer = requests.get(
        f"{lms.url}{certificate_url('bob').rstrip('/')}",
        headers={"Authorization": "Bearer at-bob-0"},
        allow_redirects=False,
        timeout=5,
    )

    assert answer.status_code == 301
