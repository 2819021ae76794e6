"""What the LMS said, as the readers hand it over: typed records around edX's own JSON.

edX's objects (an enrollment, a current grade, a certificate) stay the JSON edX sent,
because the cache keeps them exactly as answered; these records say whose they are,
for which course run, and what was not read at all.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from dashboard.failures import EdxRefreshError

EdxJson = dict[str, Any]


class _Unread(Enum):
    UNREAD = "unread"


# A certificate the course-wide read did not ask for: the cache keeps what it had.
UNREAD = _Unread.UNREAD
Unread = Literal[_Unread.UNREAD]


@dataclass(frozen=True)
class GradeData:
    """What edX said about one learner in one course run; None where edX has nothing."""

    certificate: EdxJson | None | Unread
    current_grade: EdxJson | None

    @property
    def certificate_read(self) -> EdxJson | None:
        """The certificate, with one that was not read taken as none."""
        return None if self.certificate is UNREAD else self.certificate


@dataclass
class LearnerRead:
    """What edX said about one learner: enrollments and grade data by course run id.

    `all_enrollments` says the enrollments are every one the learner has (a per-learner
    read), so cached enrollments of other runs are gone; a course-wide read covers only
    the runs it read.
    """

    user_id: int
    enrollments: dict[int, EdxJson] = field(default_factory=dict)
    grades: dict[int, GradeData] = field(default_factory=dict)
    all_enrollments: bool = True

    def actively_enrolled(self, course_run_id: int) -> bool:
        enrollment = self.enrollments.get(course_run_id)
        return enrollment is not None and enrollment.get("is_active") is True


@dataclass(frozen=True)
class LearnersRead:
    """What a read of many learners gave: a read or a failure for each one."""

    reads: dict[int, LearnerRead]
    errors: dict[int, EdxRefreshError]
