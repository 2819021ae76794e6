"""What one chunk of a freeze round does: read its learners, freeze them, record the rest.

A chunk reads the LMS first (many requests in flight), then computes the final grades
and writes the cache, the grades and the failures in one transaction, set-based.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from dashboard.api import (
    USERNAMES_PER_REQUEST,
    EdxRefreshError,
    LearnerRead,
    LearnersRead,
    ListedLearner,
    Reason,
    Stage,
    course_grade_pages,
    read_learners,
    read_unlisted,
    start_course_page_read,
    store_learner_reads,
    user_ids_by_edx_username,
)
from gradefreeze.bulk_writes import insert_rows
from gradefreeze.sentry import report_unexpected
from grades import rounds
from grades.audit import insert_final_grades
from grades.models import CourseRunGradingStatus, FinalGrade, FreezeFailure
from grades.policy import FinalGradeError, FinalGradeValues, compute_final_grade
from grades.selectors import has_failed, has_final_grade, population

log = logging.getLogger(__name__)

# A course-wide page is read and written in this many parts (see _freeze_listed).
PAGE_PARTS = 4

# What kept a learner from being frozen: an LMS fault or the policy's refusal.
Failure = EdxRefreshError | FinalGradeError


def record_failures(grading_status: CourseRunGradingStatus, errors: Mapping[int, Failure]) -> None:
    """Record why each of these learners ({user id: error}) was not frozen."""
    now = timezone.now()
    insert_rows(
        FreezeFailure,
        [
            {
                "grading_status": grading_status.pk,
                "user": user_id,
                "stage": error.stage,
                "reason": str(error.reason)[:255],
                "http_status": error.http_status,
                "failed_on": now,
            }
            for user_id, error in sorted(errors.items())
        ],
        conflict=("grading_status", "user"),
        update=("stage", "reason", "http_status", "failed_on"),
    )


def record_worker_lost(grading_status: CourseRunGradingStatus, user_ids: Iterable[int]) -> int:
    """A chunk given up (delivered too often without finishing): its learners who are in
    the population and not frozen fail with worker_lost; returns how many.

    The stage is unexpected: nobody knows how far their reads went before the worker died.
    """
    course_run = grading_status.course_run
    lost = (
        population(course_run)
        .filter(id__in=list(user_ids))
        .filter(~has_final_grade(course_run))
        .values_list("id", flat=True)
    )
    error = EdxRefreshError(Stage.UNEXPECTED, Reason.WORKER_LOST)
    errors: dict[int, Failure] = dict.fromkeys(lost, error)
    record_failures(grading_status, errors)
    return len(errors)


def freeze_reads(
    grading_status: CourseRunGradingStatus,
    read: LearnersRead,
    cache_only: Iterable[LearnerRead] = (),
) -> tuple[int, int]:
    """Compute the final grades of what was read, then write the cache, the grades and
    the failures of the chunk in one transaction; returns (frozen, failed).

    `cache_only` reads are cached but nobody in them is frozen. A learner frozen
    meanwhile by someone else keeps the grade they have.
    """
    course_run = grading_status.course_run
    errors: dict[int, Failure] = dict(read.errors)
    values: dict[int, FinalGradeValues] = {}
    bugs: dict[str, list[BaseException]] = {}  # by the stage they happened at
    for error in read.errors.values():
        if error.stage == Stage.UNEXPECTED and error.__cause__ is not None:
            bugs.setdefault(error.during, []).append(error.__cause__)
    for user_id, learner in read.reads.items():
        grade_data = learner.grades[course_run.pk]
        try:
            values[user_id] = compute_final_grade(
                course_run.has_exam,
                grade_data.current_grade,
                grade_data.certificate_read,
                learner.enrollments.get(course_run.pk),
            )
        except FinalGradeError as error:
            errors[user_id] = error
        except Exception as error:  # one learner's bug must not stop the others
            bugs.setdefault(Stage.COMPUTATION, []).append(error)
            errors[user_id] = EdxRefreshError(Stage.UNEXPECTED, type(error).__name__)
    for stage, raised in bugs.items():
        report_unexpected(
            "unexpected failure at %s of %d learner(s) in a chunk of %s: %s",
            (stage, len(raised), course_run.edx_course_key, type(raised[0]).__name__),
            raised[0],
            {"course_run": course_run.edx_course_key, "stage": str(stage)},
        )
    with transaction.atomic():
        store_learner_reads([*read.reads.values(), *cache_only])
        frozen = insert_final_grades(course_run, values)
        record_failures(grading_status, errors)
    return frozen, len(errors)


def freeze_users(grading_status: CourseRunGradingStatus, user_ids: list[int]) -> tuple[int, int]:
    """Per-learner mode: read each learner with their own token (many in flight at once),
    then freeze the chunk set-based, recording why each learner not frozen was not."""
    course_run = grading_status.course_run
    users = list(
        get_user_model()
        .objects.filter(id__in=user_ids)
        .filter(~has_final_grade(course_run))
        .order_by("id")
    )
    return freeze_reads(grading_status, read_learners(users, [course_run]))


def list_course_run(
    grading_status: CourseRunGradingStatus, send_page: Callable[[int, list], None]
) -> bool:
    """Course-wide mode: walk the run's grade pages, sending each as a chunk with
    `send_page(index, records)`; returns True when the round is then all done.

    A walk run again (its worker died) sends the same pages again: the chunks skip
    learners already frozen and a finished chunk is counted once.
    """
    course_run = grading_status.course_run
    index = 0
    for index, records in enumerate(course_grade_pages(course_run, settings.FREEZE_PAGE_SIZE)):
        if not rounds.page_listed(grading_status, index):
            return False  # reverted or superseded meanwhile
        send_page(index, records)
    listed = rounds.listing_finished(grading_status, index + 1)
    if listed is None:
        return False
    log.info("%s: %d pages of grades listed", course_run.edx_course_key, index + 1)
    return rounds.round_finished(listed)


def _page_learners(grading_status: CourseRunGradingStatus, records: list) -> dict:
    """{edX username: ListedLearner} of a grade page: the platform's learners in it (matched
    by their edX link) who are neither frozen nor failed in this freeze."""
    course_run = grading_status.course_run
    grades = {}
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("username"), str):
            grades[record["username"]] = record
        else:
            log.warning("%s: a grade record without a username was skipped", course_run)
    user_ids = user_ids_by_edx_username(grades)
    done = set(
        FinalGrade.objects.filter(course_run=course_run, user_id__in=user_ids.values()).values_list(
            "user_id", flat=True
        )
    )
    done |= set(
        grading_status.failures.filter(user_id__in=user_ids.values()).values_list(
            "user_id", flat=True
        )
    )
    return {
        username: ListedLearner(user_id, grades[username])
        for username, user_id in user_ids.items()
        if user_id not in done
    }


def page_user_ids(grading_status: CourseRunGradingStatus, records: list) -> list[int]:
    """The platform's learners of a page of the run's grades not yet frozen or failed."""
    return [learner.user_id for learner in _page_learners(grading_status, records).values()]


def freeze_course_page(grading_status: CourseRunGradingStatus, records: list) -> tuple[int, int]:
    """Course-wide mode: freeze the learners of one page of the run's grades.

    Learners are matched to the platform by their edX link (edX username); who has
    none is not the platform's learner. The page's enrollments and certificates are
    read with the staff token; what was read is cached as a per-learner read would
    cache it, and only learners actively enrolled are frozen.
    """
    return _freeze_listed(grading_status, _page_learners(grading_status, records))


def freeze_unlisted(grading_status: CourseRunGradingStatus, user_ids: list[int]) -> tuple[int, int]:
    """Course-wide completeness: learners the platform counts as actively enrolled whom
    the listing never showed, read one by one with the staff token. Whom edX says is
    actively enrolled is frozen or fails with a reason; the others' enrollment is cached
    as edX gives it, so they leave the run's population."""
    course_run = grading_status.course_run
    left = (
        population(course_run)
        .filter(id__in=user_ids)
        .filter(~has_final_grade(course_run))
        .filter(~has_failed(grading_status))
    )
    learners, errors = read_unlisted(course_run, list(left.values_list("id", flat=True)))
    frozen, failed = freeze_reads(grading_status, LearnersRead({}, dict(errors)))
    more_frozen, more_failed = _freeze_listed(grading_status, learners)
    return frozen + more_frozen, failed + more_failed


def _freeze_listed(
    grading_status: CourseRunGradingStatus, learners: dict[str, ListedLearner]
) -> tuple[int, int]:
    course_run = grading_status.course_run
    # The page's learners in up to PAGE_PARTS parts, all read at once on lms_async's event loop
    # (one part's enrollment batches overlap another's certificates), each part written
    # as soon as its read is in while the later parts are still being read.
    names = sorted(learners)
    # whole enrollment batches: under edX's throttle, enrollment requests set the pace
    batches = -(-len(names) // USERNAMES_PER_REQUEST)
    size = max(1, -(-batches // PAGE_PARTS)) * USERNAMES_PER_REQUEST
    readings: list[Future[LearnersRead]] = [
        start_course_page_read(course_run, {n: learners[n] for n in names[i : i + size]})
        for i in range(0, len(names), size)
    ]
    frozen = failed = 0
    for reading in readings:
        answer = reading.result()
        active = {
            user_id: learner
            for user_id, learner in answer.reads.items()
            if learner.actively_enrolled(course_run.pk)
        }
        inactive = [learner for learner in answer.reads.values() if learner.user_id not in active]
        part_frozen, part_failed = freeze_reads(
            grading_status, LearnersRead(active, answer.errors), cache_only=inactive
        )
        frozen, failed = frozen + part_frozen, failed + part_failed
    return frozen, failed
