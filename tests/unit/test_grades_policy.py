"""The two grading policies of the original system, applied to edX's JSON objects."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grades.policy import (
    FinalGradeError,
    FinalGradeValues,
    compute_final_grade,
    explain_final_grade,
    parse_percent,
)


def grade(percent=0.8, passed=True):
    return {"percent": percent, "passed": passed, "username": "ann", "course_id": "k"}


def certificate(status="downloadable", certificate_type="verified"):
    return {"status": status, "certificate_type": certificate_type}


def enrollment(mode="verified"):
    return {"mode": mode, "is_active": True}


class TestExamRuns:
    def test_passed_is_edx_passed(self):
        values = compute_final_grade(True, grade(passed=True), None, enrollment())
        assert values == FinalGradeValues(grade=0.8, passed=True, paid=True)

    def test_not_passed_when_edx_says_not_passed_even_with_a_certificate(self):
        values = compute_final_grade(True, grade(passed=False), certificate(), enrollment())
        assert values.passed is False

    @pytest.mark.parametrize(
        ("mode", "paid"), [("verified", True), ("honor", True), ("audit", False), (None, False)]
    )
    def test_paid_follows_the_enrollment_mode(self, mode, paid):
        values = compute_final_grade(
            True, grade(), certificate("downloadable", "audit"), enrollment(mode)
        )
        assert values.paid is paid

    def test_no_enrollment_is_not_paid(self):
        assert compute_final_grade(True, grade(), None, None).paid is False

    def test_passed_must_be_true_not_truthy(self):
        assert compute_final_grade(True, grade(passed="yes"), None, None).passed is False


class TestCertificateRuns:
    def test_downloadable_certificate_passes(self):
        values = compute_final_grade(False, grade(passed=False), certificate(), enrollment("audit"))
        assert values == FinalGradeValues(grade=0.8, passed=True, paid=True)

    @pytest.mark.parametrize("status", ["notpassing", "unverified", "restricted"])
    def test_certificate_not_downloadable_does_not_pass(self, status):
        values = compute_final_grade(False, grade(passed=True), certificate(status), enrollment())
        assert values.passed is False

    def test_a_certificate_being_generated_gives_no_final_grade_yet(self):
        """certificates/data.py CertificateStatuses.generating: not final; the learner is
        failed with a reason and read again, never frozen as not passed."""
        with pytest.raises(FinalGradeError) as raised:
            compute_final_grade(False, grade(passed=True), certificate("generating"), enrollment())
        assert raised.value.reason == "certificate_generating"

    def test_the_explanation_says_a_generating_certificate_is_waited_for(self):
        lines = explain_final_grade(False, grade(), certificate("generating"), enrollment())
        assert "certificate_generating" in lines[-1]

    def test_an_exam_run_does_not_wait_for_a_certificate(self):
        values = compute_final_grade(True, grade(passed=True), certificate("generating"), None)
        assert values.passed is True

    def test_no_certificate_does_not_pass_even_if_edx_says_passed(self):
        values = compute_final_grade(False, grade(passed=True), None, enrollment())
        assert values.passed is False

    @pytest.mark.parametrize(
        ("certificate_type", "paid"), [("verified", True), ("honor", True), ("audit", False)]
    )
    def test_paid_follows_the_certificate_type(self, certificate_type, paid):
        cert = certificate("downloadable", certificate_type)
        values = compute_final_grade(
            False, grade(), cert, enrollment("audit" if paid else "verified")
        )
        assert values.paid is paid

    @pytest.mark.parametrize(
        ("mode", "paid"), [("verified", True), ("honor", True), ("audit", False)]
    )
    def test_without_certificate_paid_follows_the_enrollment_mode(self, mode, paid):
        assert compute_final_grade(False, grade(), None, enrollment(mode)).paid is paid


class TestPercent:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (0.75, 0.75),
            ("0.75", 0.75),
            (1, 1.0),
            (0, 0.0),
            (None, 0.0),
            ("", 0.0),
            ("n/a", 0.0),
            ([0.5], 0.0),
            ({"v": 1}, 0.0),
            ("nan", 0.0),
            (1.5, 1.0),
            (-0.2, 0.0),
            ("inf", 0.0),
            (True, 0.0),
        ],
    )
    def test_percent_rule(self, raw, expected):
        assert parse_percent(raw) == expected

    def test_unparsable_percent_freezes_as_zero(self):
        assert compute_final_grade(False, grade(percent="bad"), None, None).grade == 0.0

    @given(st.one_of(st.none(), st.floats(), st.integers(), st.text(), st.booleans()))
    def test_grade_is_always_a_float_between_0_and_1(self, raw):
        value = parse_percent(raw)
        assert isinstance(value, float)
        assert not math.isnan(value)
        assert 0.0 <= value <= 1.0
