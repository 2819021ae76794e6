"""The data file: what `validate` refuses, and what `generate` produces."""

import copy
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import sandbox
from sandbox.dataset import (
    DEFAULT_CLIENT,
    DEFAULT_STAFF_CLIENT,
    DatasetError,
    generate,
    load,
    validate,
)

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"


def test_the_example_file_loads():
    example = load(Path(sandbox.__file__).parent / "example.json")

    assert len(example["learners"]) == 3
    assert len(example["course_runs"]) == 2


def test_course_runs_are_derived_from_the_learners_when_left_out(dataset):
    assert validate(dataset)["course_runs"] == [ANALOG, DEMO]


def test_validate_leaves_the_callers_dataset_unchanged(dataset):
    before = copy.deepcopy(dataset)

    validate(dataset)

    assert dataset == before


def break_alice_percent(data):
    data["learners"]["alice"]["grades"][0]["percent"] = 1.5


def break_bob_enrollment_owner(data):
    data["learners"]["bob"]["enrollments"][0]["user"] = "alice"


def misspell_carol_faults(data):
    data["learners"]["carol"]["fault"] = {}


def bad_fault_key(data):
    data["learners"]["bob"]["faults"] = {"grades": {"stauts": 500}}


def bad_fault_endpoint(data):
    data["faults"] = {"grade": {"status": 500}}


def undeclared_course_run(data):
    data["course_runs"] = [ANALOG]


def shared_token(data):
    data["learners"]["bob"]["access_token"] = "at-alice-0"


def duplicate_grade(data):
    grades = data["learners"]["bob"]["grades"]
    grades.append(dict(grades[0]))


def certificate_without_created(data):
    del data["learners"]["alice"]["certificates"][0]["created_date"]


@pytest.mark.parametrize(
    "damage, where",
    [
        (break_alice_percent, "learners.alice.grades[0].percent"),
        (break_bob_enrollment_owner, "learners.bob.enrollments[0].user"),
        (misspell_carol_faults, "learners.carol: unknown key(s) ['fault']"),
        (bad_fault_key, "learners.bob.faults.grades: unknown key(s) ['stauts']"),
        (bad_fault_endpoint, "faults: unknown endpoint 'grade'"),
        (undeclared_course_run, f"learners.alice: course run {DEMO} is not in course_runs"),
        (shared_token, "learners.bob.access_token: same token as learner 'alice'"),
        (duplicate_grade, "learners.bob.grades[1]: a second record"),
        (certificate_without_created, "learners.alice.certificates[0].created"),
    ],
)
def test_validation_names_the_offending_learner_and_field(dataset, damage, where):
    damage(dataset)

    with pytest.raises(DatasetError) as refused:
        validate(dataset)

    assert where in str(refused.value)


@pytest.mark.parametrize(
    "fault, problem",
    [
        ({"status": 503, "malformed": True}, "choose one"),
        ({"rate": 0.5}, "needs status"),
        ({"status": 503, "rate": 1.5}, "rate"),
        ({"status": 99}, "status"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"timeout": "yes"}, "timeout"),
    ],
)
def test_meaningless_fault_specs_are_refused(dataset, fault, problem):
    dataset["faults"] = {"grades": fault}

    with pytest.raises(DatasetError, match=problem):
        validate(dataset)


def test_load_names_the_file_in_its_errors(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"learners": []}))

    with pytest.raises(DatasetError, match=r"data\.json: learners"):
        load(path)


def test_generate_is_deterministic_for_a_seed():
    assert generate(learners=50, seed=3) == generate(learners=50, seed=3)
    assert generate(learners=50, seed=3) != generate(learners=50, seed=4)


def test_generate_names_learners_and_gives_them_their_tokens():
    data = generate(learners=3, revoked=0)

    assert list(data["learners"]) == ["learner00001", "learner00002", "learner00003"]
    learner = data["learners"]["learner00002"]
    assert learner["email"] == "learner00002@example.com"
    assert (learner["access_token"], learner["refresh_token"]) == (
        "at-learner00002-0",
        "rt-learner00002-0",
    )


def test_generate_enrolls_and_grades_every_learner_in_every_course_run():
    data = generate(learners=20, course_keys=(ANALOG, DEMO), revoked=0)

    for learner in data["learners"].values():
        assert [e["course_details"]["course_id"] for e in learner["enrollments"]] == [ANALOG, DEMO]
        assert [g["course_id"] for g in learner["grades"]] == [ANALOG, DEMO]


def test_generate_revokes_exactly_the_requested_number_of_learners():
    data = generate(learners=100, revoked=10)

    revoked = [u for u, learner in data["learners"].items() if learner.get("revoked")]
    assert len(revoked) == 10
    assert revoked != [f"learner{n:05d}" for n in range(1, 11)]  # shuffled, not the first ten


def test_generate_mixes_modes_mostly_verified():
    data = generate(learners=1000)

    modes = Counter(learner["enrollments"][0]["mode"] for learner in data["learners"].values())
    assert modes["verified"] > modes["audit"] > modes["honor"] > 0


def test_generate_certifies_about_the_requested_share():
    data = generate(learners=1000, no_certificate_share=0.3)

    certified = sum(bool(learner["certificates"]) for learner in data["learners"].values())
    assert 620 <= certified <= 780


def test_generate_passes_about_the_requested_share():
    data = generate(learners=1000, passed_share=0.6)

    passed = sum(learner["grades"][0]["passed"] for learner in data["learners"].values())
    assert 540 <= passed <= 660


@hypothesis_settings(max_examples=25, deadline=None)
@given(
    learners=st.integers(min_value=0, max_value=40),
    seed=st.integers(),
    no_certificate_share=st.floats(min_value=0, max_value=1),
    passed_share=st.floats(min_value=0, max_value=1),
    courses=st.integers(min_value=1, max_value=3),
)
def test_generated_datasets_are_valid_and_consistent(
    learners, seed, no_certificate_share, passed_share, courses
):
    keys = tuple(f"course-v1:Org+C{n}+Run" for n in range(courses))
    data = generate(
        learners=learners,
        course_keys=keys,
        seed=seed,
        revoked=min(learners, 3),
        no_certificate_share=no_certificate_share,
        passed_share=passed_share,
    )

    validate(json.loads(json.dumps(data)))
    for learner in data["learners"].values():
        modes = {e["course_details"]["course_id"]: e["mode"] for e in learner["enrollments"]}
        grades = {g["course_id"]: g for g in learner["grades"]}
        for grade in grades.values():
            assert grade["passed"] == (grade["percent"] >= 0.5)
            assert round(grade["percent"], 2) == grade["percent"]
        for certificate in learner["certificates"]:
            passed = grades[certificate["course_id"]]["passed"]
            mode = modes[certificate["course_id"]]
            assert certificate["certificate_type"] == mode
            if mode == "audit":
                expected = "audit_passing" if passed else "audit_notpassing"
                assert certificate["status"] == expected
            else:
                assert (certificate["status"] == "downloadable") == passed
                assert certificate["status"] in ("downloadable", "notpassing", "unverified")


def test_generate_refuses_impossible_numbers():
    with pytest.raises(DatasetError, match="revoked"):
        generate(learners=5, revoked=6)


def test_a_data_file_of_the_earlier_shape_stays_valid(dataset):
    """Certificates with created/modified, a client without grant type, plain course ids."""
    dataset["clients"] = [{"client_id": "gradefreeze", "client_secret": "s", "staff": True}]
    for learner in dataset["learners"].values():
        for certificate in learner["certificates"]:
            certificate["created"] = certificate.pop("created_date")
            certificate["modified"] = certificate["created"]

    assert validate(dataset)["clients"][0]["client_id"] == "gradefreeze"


def test_a_course_run_may_say_it_has_no_certificate_configuration(dataset):
    dataset["course_runs"] = [{"course_id": ANALOG, "certificates_configured": False}, DEMO]

    checked = validate(dataset)

    assert checked["course_runs"] == [ANALOG, DEMO]
    assert checked["certificates_unconfigured"] == [ANALOG]


def unknown_course_run_option(data):
    data["course_runs"] = [{"course_id": ANALOG, "certified": False}, DEMO]


def unknown_grant_type(data):
    data["clients"][0]["grant_type"] = "implicit"


def authorization_code_without_redirect_uri(data):
    del data["clients"][0]["redirect_uris"]


def relative_redirect_uri(data):
    data["clients"][0]["redirect_uris"] = "/complete/edxorg/"


def unknown_setting(data):
    data["settings"] = {"throttle": "off"}


def bad_rate(data):
    data["settings"] = {"rates": {"token": "lots"}}


def empty_password(data):
    data["learners"]["bob"]["password"] = ""


@pytest.mark.parametrize(
    "damage, where",
    [
        (unknown_course_run_option, "course_runs[0]: unknown key(s) ['certified']"),
        (unknown_grant_type, "clients[0].grant_type"),
        (authorization_code_without_redirect_uri, "clients[0].redirect_uris: required"),
        (relative_redirect_uri, "clients[0].redirect_uris: '/complete/edxorg/'"),
        (unknown_setting, "settings: unknown key(s) ['throttle']"),
        (bad_rate, "settings.rates.token"),
        (empty_password, "learners.bob.password"),
    ],
)
def test_validation_names_the_offending_setting_or_client(dataset, damage, where):
    damage(dataset)

    with pytest.raises(DatasetError) as refused:
        validate(dataset)

    assert where in str(refused.value)


def test_generate_writes_the_learners_client_and_the_staff_client():
    data = generate(learners=2, revoked=0)

    assert data["clients"] == [DEFAULT_CLIENT, DEFAULT_STAFF_CLIENT]
    assert DEFAULT_CLIENT["grant_type"] == "authorization-code" and not DEFAULT_CLIENT.get("staff")
    assert DEFAULT_STAFF_CLIENT["grant_type"] == "client-credentials"
    assert DEFAULT_STAFF_CLIENT["staff"] is True


def test_generate_writes_certificates_with_edx_field_names():
    data = generate(learners=30, no_certificate_share=0)

    certificate = data["learners"]["learner00001"]["certificates"][0]
    assert "created_date" in certificate and "created" not in certificate
