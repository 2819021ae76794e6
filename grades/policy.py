"""The grading policy: a final grade from what edX said of a learner in a course run.

Pure: edX's JSON records in, (grade, passed, paid) out; no database, no I/O.

- Runs of a course with a proctored exam: passed is edX's `passed` from the current
  grade; paid iff the enrollment mode is verified or honor.
- Other runs: passed iff the learner holds a `downloadable` certificate; paid iff the
  certificate type is verified or honor, or, with no certificate, the enrollment mode is.
  A certificate still `generating` gives no final grade yet (certificate_generating).
- The grade is edX's `percent` as a float in [0, 1]; a value that does not parse is 0.0.
"""

import math
from dataclasses import dataclass
from typing import Any

from dashboard.failures import Reason, Stage

PAID_MODES = frozenset({"verified", "honor"})
DOWNLOADABLE = "downloadable"
# certificates/data.py CertificateStatuses.generating: edX is making it (is_passing is
# already true); whether it ends downloadable is not known yet, so no final grade now.
GENERATING = "generating"


class FinalGradeError(Exception):
    """The final grade cannot be computed from what edX said."""

    stage = Stage.COMPUTATION
    http_status = None

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FinalGradeValues:
    grade: float
    passed: bool
    paid: bool


def parse_percent(value: Any) -> float:
    """edX's percent as a float in [0, 1]; anything that does not parse as one is 0.0."""
    if isinstance(value, bool):
        return 0.0
    try:
        percent = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if not math.isfinite(percent):
        return 0.0
    return min(max(percent, 0.0), 1.0)


def paid_mode(value: Any) -> bool:
    """Whether edX's mode or certificate type is a paid one; JSON of any other shape is not."""
    return isinstance(value, str) and value in PAID_MODES


def _check_shapes(current_grade: Any, certificate: Any, enrollment: Any) -> None:
    """edX's records are JSON objects; the certificate and enrollment may be missing (None)."""
    if not isinstance(current_grade, dict):
        raise FinalGradeError(Reason.MALFORMED_CURRENT_GRADE)
    if certificate is not None and not isinstance(certificate, dict):
        raise FinalGradeError(Reason.MALFORMED_CERTIFICATE)
    if enrollment is not None and not isinstance(enrollment, dict):
        raise FinalGradeError(Reason.MALFORMED_ENROLLMENT)


def compute_final_grade(
    has_exam: bool, current_grade: Any, certificate: Any, enrollment: Any
) -> FinalGradeValues:
    """Apply the run's grading policy to edX's JSON (certificate and enrollment may be None).

    Raises FinalGradeError when there is no current grade or a record is not an object.
    """
    if current_grade is None:
        raise FinalGradeError(Reason.NO_CURRENT_GRADE)
    _check_shapes(current_grade, certificate, enrollment)
    enrollment_paid = paid_mode((enrollment or {}).get("mode"))
    grade = parse_percent(current_grade.get("percent"))
    if has_exam:
        return FinalGradeValues(
            grade=grade, passed=current_grade.get("passed") is True, paid=enrollment_paid
        )
    if certificate is None:
        return FinalGradeValues(grade=grade, passed=False, paid=enrollment_paid)
    if certificate.get("status") == GENERATING:
        raise FinalGradeError(Reason.CERTIFICATE_GENERATING)
    return FinalGradeValues(
        grade=grade,
        passed=certificate.get("status") == DOWNLOADABLE,
        paid=paid_mode(certificate.get("certificate_type")),
    )


def explain_final_grade(
    has_exam: bool, current_grade: Any, certificate: Any, enrollment: Any
) -> list[str]:
    """Which policy applies and why it gives what it gives, in an operator's words."""
    mode = (enrollment or {}).get("mode") if isinstance(enrollment, dict) else None
    percent = current_grade.get("percent") if isinstance(current_grade, dict) else None
    lines = [f"grade: edX's percent {percent!r} -> {parse_percent(percent):.4f}"]
    if has_exam:
        passed = current_grade.get("passed") if isinstance(current_grade, dict) else None
        lines.append("policy: course with a proctored exam")
        lines.append(f"passed: edX's passed is {passed!r}")
        lines.append(f"paid: enrollment mode {mode!r} {'is' if paid_mode(mode) else 'is not'} paid")
        return lines
    lines.append("policy: course without an exam (certificate)")
    if not isinstance(certificate, dict):
        lines.append("passed: no certificate, so not passed")
        lines.append(
            f"paid: no certificate, so by the enrollment mode {mode!r}: "
            f"{'paid' if paid_mode(mode) else 'not paid'}"
        )
        return lines
    status, kind = certificate.get("status"), certificate.get("certificate_type")
    if status == GENERATING:
        lines.append(
            "passed: certificate status 'generating' is not final: no final grade until edX "
            "has issued it (certificate_generating); retry the learner then"
        )
        return lines
    lines.append(
        f"passed: certificate status {status!r} "
        f"{'is' if status == DOWNLOADABLE else 'is not'} {DOWNLOADABLE!r}"
    )
    lines.append(f"paid: certificate type {kind!r} {'is' if paid_mode(kind) else 'is not'} paid")
    return lines
