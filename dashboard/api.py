"""What other apps call to read learners from edX and to keep the platform's cache of it.

The readers (per learner with each learner's token, course-wide with the staff
client's) hand over typed records; `store_learner_reads` writes them to the cache.
"""

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction

from courses.models import CourseRun
from dashboard.cache import (
    cached_grade_data,
    check_storable,
    enrolled_with_current_grade,
    store_learner_reads,
)
from dashboard.course_reader import (
    USERNAMES_PER_REQUEST,
    ListedLearner,
    course_grade_pages,
    read_course_page,
    read_unlisted,
    start_course_page_read,
)
from dashboard.diagnosis import (
    CachedRecord,
    EdxLinkState,
    cached_records,
    edx_link_state,
    read_live,
)
from dashboard.failures import WAITING_REASONS, EdxRefreshError, Reason, Stage, learner_error
from dashboard.freshness import refresh_learners, refresh_stale_learners, stale_linked_learners
from dashboard.learner_reader import read_learners
from dashboard.lms_client import staff_client_configured
from dashboard.records import UNREAD, EdxJson, GradeData, LearnerRead, LearnersRead
from dashboard.token_refresh import EDX_PROVIDER, user_ids_by_edx_username

__all__ = [
    "USERNAMES_PER_REQUEST",
    "EDX_PROVIDER",
    "CachedRecord",
    "EdxLinkState",
    "UNREAD",
    "EdxJson",
    "EdxRefreshError",
    "GradeData",
    "LearnerRead",
    "LearnersRead",
    "ListedLearner",
    "Reason",
    "WAITING_REASONS",
    "Stage",
    "cached_grade_data",
    "cached_records",
    "check_storable",
    "course_grade_pages",
    "edx_link_state",
    "enrolled_with_current_grade",
    "learner_error",
    "read_course_page",
    "start_course_page_read",
    "read_learners",
    "read_live",
    "read_unlisted",
    "refresh_cached_data",
    "refresh_learners",
    "refresh_stale_learners",
    "stale_linked_learners",
    "staff_client_configured",
    "store_learner_reads",
    "user_ids_by_edx_username",
]


def refresh_cached_data(user: User, course_runs: Sequence[CourseRun] | None = None) -> LearnerRead:
    """Refresh the learner's token, enrollments, then the certificates and current grades
    of `course_runs` (default: every known run the learner is enrolled in).

    Everything is fetched first and written in one transaction, so the cache never
    mixes two refreshes and a fault leaves it as it was. Raises EdxRefreshError.
    """
    read = read_learners([user], course_runs)
    if user.pk in read.errors:
        raise read.errors[user.pk]
    with transaction.atomic():
        store_learner_reads(read.reads.values())
    return read.reads[user.pk]
