"""A learner whose LMS answers are malformed fails with a reason; nobody else is affected.

Each example puts two new learners into a running sandbox: one whose records carry
arbitrary JSON in every field the sandbox lets through (extra fields, modes, statuses,
dates) and whose answers may be cut in half (the `malformed` fault), and a bystander
with plain records. Freezing the first either gives a final grade or raises the error
a chunk records (stage and reason); the bystander is frozen as their records say.
"""

import copy
import itertools

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard.api import EdxRefreshError
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment
from demo.api import seed_course_run, seed_learners
from grades.api import freeze_user_final_grade
from grades.models import FinalGrade, FinalGradeAudit
from grades.policy import FinalGradeError, compute_final_grade
from sandbox.dataset import generate
from tests.unit.test_fuzz_lms_payloads import json_values

pytestmark = pytest.mark.django_db

KEY = "course-v1:MITx+Fuzz+1T2026"
ENDPOINTS = ["token", "enrollments", "grades", "certificates"]
# Without NUL or lone surrogates: see test_text_jsonb_refuses_is_not_a_database_error.
CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
ANY_TEXT = st.text(CHARACTERS, max_size=40)
EXTRA_FIELDS = st.dictionaries(
    st.text(CHARACTERS, max_size=12), json_values(CHARACTERS, finite=True), max_size=3
)
names = itertools.count(1)


def template():
    """A plain learner of the run, verified and certified."""
    dataset = generate(learners=1, course_keys=(KEY,), revoked=0, no_certificate_share=0)
    return dataset["learners"]["learner00001"]


def renamed(learner, username):
    """The learner under another name, with tokens of their own."""
    text = copy.deepcopy(learner)
    for records in ("enrollments", "grades", "certificates"):
        for record in text[records]:
            owner = "user" if records == "enrollments" else "username"
            record[owner] = username
    text["email"] = f"{username}@example.com"
    text["access_token"] = f"at-{username}-0"
    text["refresh_token"] = f"rt-{username}-0"
    return text


@st.composite
def fuzzed_learners(draw):
    """Records with arbitrary JSON where the sandbox allows it, and malformed answers."""
    learner = template()
    enrollment, grade, certificate = (
        learner["enrollments"][0],
        learner["grades"][0],
        learner["certificates"][0],
    )
    for record in (enrollment, grade, certificate, enrollment["course_details"]):
        # Fields edX does not send: never one it does (a course_id of None is refused).
        extra = draw(EXTRA_FIELDS)
        record.update({name: value for name, value in extra.items() if name not in record})
    enrollment["mode"] = draw(st.sampled_from(["verified", "honor", "audit"]) | ANY_TEXT)
    enrollment["created"] = draw(st.none() | ANY_TEXT)
    grade["percent"] = draw(st.floats(0, 1))
    grade["passed"] = draw(st.booleans())
    grade["letter_grade"] = draw(st.none() | ANY_TEXT)
    certificate["status"] = draw(st.sampled_from(["downloadable", "notpassing"]) | ANY_TEXT)
    certificate["certificate_type"] = draw(st.sampled_from(["verified", "audit"]) | ANY_TEXT)
    certificate["grade"] = draw(ANY_TEXT | st.floats(allow_nan=False, allow_infinity=False))
    certificate["created"] = draw(ANY_TEXT)
    certificate["modified"] = draw(ANY_TEXT)
    if draw(st.booleans()):
        learner["certificates"] = []
    malformed = draw(st.lists(st.sampled_from(ENDPOINTS), unique=True, max_size=2))
    learner["faults"] = {endpoint: {"malformed": True} for endpoint in malformed}
    return learner


@pytest.fixture
def course_run():
    return seed_course_run(KEY, timezone.now() - timezone.timedelta(days=1))


@pytest.fixture
def lms(course_run, start_sandbox):
    return start_sandbox(generate(learners=0, course_keys=(KEY,), revoked=0))


def add_learner(lms, learner):
    username = f"fuzz{next(names):05d}"
    learner = renamed(learner, username)
    lms.put_learner(username, learner)
    seed_learners({"learners": {username: learner}})
    return get_user_model().objects.get(username=username), learner


def cache_of(user):
    return [
        list(model.objects.filter(user=user).order_by("pk").values("data"))
        for model in (CachedEnrollment, CachedCurrentGrade, CachedCertificate)
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(learner=fuzzed_learners())
def test_a_malformed_learner_fails_alone(lms, course_run, learner):
    fuzzed, _ = add_learner(lms, learner)
    bystander, plain = add_learner(lms, template())
    cache_before = cache_of(fuzzed)
    try:
        final_grade = freeze_user_final_grade(fuzzed, course_run)
    except (EdxRefreshError, FinalGradeError) as error:
        event(f"failed: {error.stage} {error.reason}")
        assert error.stage and error.reason
        assert not FinalGrade.objects.filter(user=fuzzed).exists()
        assert not FinalGradeAudit.objects.filter(user_id=fuzzed.pk).exists()
        if isinstance(error, EdxRefreshError):
            assert cache_of(fuzzed) == cache_before
    else:
        event("frozen")
        assert 0.0 <= final_grade.grade <= 1.0

    frozen = freeze_user_final_grade(bystander, course_run)
    expected = compute_final_grade(
        False, plain["grades"][0], plain["certificates"][0], plain["enrollments"][0]
    )
    assert (frozen.grade, frozen.passed, frozen.paid) == (
        expected.grade,
        expected.passed,
        expected.paid,
    )


@pytest.mark.parametrize("text", ["a\x00b", "a\udfe0b"], ids=["NUL", "lone surrogate"])
def test_text_jsonb_refuses_is_not_a_database_error(lms, course_run, text):
    user, learner = add_learner(lms, template())
    learner["grades"][0]["note"] = text  # what the LMS says now, not what the platform cached
    lms.put_learner(user.username, learner)
    try:
        freeze_user_final_grade(user, course_run)
    except EdxRefreshError as error:
        assert error.stage == "cache_refresh"
