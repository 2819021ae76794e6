"""Whatever JSON the LMS sends, a final grade is in [0, 1] with bools, or a FinalGradeError.

The records are edX's objects with any field replaced or added by arbitrary JSON,
or arbitrary JSON altogether.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grades.api import get_final_grade
from grades.policy import FinalGradeError, FinalGradeValues, compute_final_grade
from tests.factories import (
    CachedCertificateFactory,
    CachedCurrentGradeFactory,
    CachedEnrollmentFactory,
    CourseRunFactory,
    UserFactory,
)


def json_values(text, finite=False):
    """Any JSON value, nested; `text` and `finite` narrow it to what a database stores
    (PostgreSQL's jsonb refuses NUL characters, lone surrogates, NaN and infinities)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=not finite, allow_infinity=not finite)
        | st.text(alphabet=text)
        | st.sampled_from(["downloadable", "verified", "honor", "audit", "0.5", "1e400", "NaN"])
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(alphabet=text, max_size=12), children, max_size=4)
        ),
        max_leaves=12,
    )


def edx_record(fields, stored=False):
    """An edX record whose known fields hold anything, with extra fields, or any JSON at all.

    `stored`: only what the cache can hold (no JSON null as a whole record, see json_values).
    """
    text = (
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
        if stored
        else st.characters(exclude_categories=())
    )
    values = json_values(text, finite=stored)
    record = st.fixed_dictionaries({}, optional=dict.fromkeys(fields, values)).flatmap(
        lambda known: st.dictionaries(st.text(alphabet=text, max_size=12), values, max_size=3).map(
            lambda extra: {**extra, **known}
        )
    )
    anything = record | values
    return anything.filter(lambda value: value is not None) if stored else anything


def current_grades(stored=False):
    return edx_record(["percent", "passed", "letter_grade", "course_id", "username"], stored)


def certificates(stored=False):
    return edx_record(["status", "certificate_type", "grade", "is_passing"], stored)


def enrollments(stored=False):
    return edx_record(["mode", "is_active", "course_details", "user"], stored)


def assert_a_final_grade(values):
    assert isinstance(values, FinalGradeValues)
    assert type(values.grade) is float and 0.0 <= values.grade <= 1.0
    assert type(values.passed) is bool and type(values.paid) is bool


@settings(max_examples=500, deadline=None)
@given(
    has_exam=st.booleans(),
    current_grade=current_grades(),
    certificate=st.none() | certificates(),
    enrollment=st.none() | enrollments(),
)
def test_compute_final_grade_of_any_json(has_exam, current_grade, certificate, enrollment):
    try:
        values = compute_final_grade(has_exam, current_grade, certificate, enrollment)
    except FinalGradeError as error:
        if current_grade is None:
            assert error.reason == "no_current_grade"
        else:
            assert error.reason.startswith("malformed_")
        return
    assert_a_final_grade(values)


@pytest.mark.parametrize(
    ("current_grade", "certificate", "enrollment", "reason"),
    [
        ([], None, None, "malformed_current_grade"),
        ({"percent": 0.5}, "downloadable", None, "malformed_certificate"),
        ({"percent": 0.5}, None, ["verified"], "malformed_enrollment"),
    ],
)
def test_a_record_that_is_not_an_object_is_malformed(
    current_grade, certificate, enrollment, reason
):
    with pytest.raises(FinalGradeError) as error:
        compute_final_grade(False, current_grade, certificate, enrollment)
    assert error.value.reason == reason


@pytest.mark.parametrize("percent", [10**400, -(10**400), "1e400", float("nan"), [0.5], True])
def test_a_percent_that_is_no_grade_is_zero(percent):
    assert compute_final_grade(True, {"percent": percent}, None, None).grade == 0.0


@pytest.mark.parametrize("mode", [["verified"], {"verified": True}])
def test_a_mode_that_is_not_a_string_is_not_paid(mode):
    assert compute_final_grade(True, {"percent": 0.5}, None, {"mode": mode}).paid is False


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    has_exam=st.booleans(),
    current_grade=current_grades(stored=True),
    certificate=st.none() | certificates(stored=True),
    enrollment=st.none() | enrollments(stored=True),
)
def test_get_final_grade_of_any_cached_json(has_exam, current_grade, certificate, enrollment):
    course_run = CourseRunFactory(course__has_exam=has_exam)
    user = UserFactory()
    CachedCurrentGradeFactory(user=user, course_run=course_run, data=current_grade)
    if certificate is not None:
        CachedCertificateFactory(user=user, course_run=course_run, data=certificate)
    if enrollment is not None:
        CachedEnrollmentFactory(user=user, course_run=course_run, data=enrollment)
    try:
        values = get_final_grade(user, course_run)
    except FinalGradeError as error:
        if current_grade is None:
            assert error.reason == "no_current_grade"
        else:
            assert error.reason.startswith("malformed_")
        return
    assert_a_final_grade(values)
