"""Final grades: the verbs other code calls (the runbook's `from grades.api import *`).

A freeze round takes the run's population (learners enrolled with a current grade),
leaves out who is frozen or already failed, and runs the rest in chunks on the
workers; the chunk that finishes last reconciles, and the run is complete when nobody
is left. `grades.rounds` keeps the rounds' state, `grades.chunks` does a chunk's work,
`grades.selectors` reads, `grades.policy` computes a final grade.
"""

from collections.abc import Callable
from enum import StrEnum

from django.contrib.auth.models import User
from django.db import transaction

from courses.api import CourseRunError, check_freeze_date_passed
from courses.models import CourseRun
from dashboard.api import cached_grade_data, refresh_cached_data
from grades import rounds
from grades.audit import insert_final_grades
from grades.models import FinalGrade
from grades.policy import FinalGradeError, FinalGradeValues, compute_final_grade
from grades.rounds import FreezeRound
from grades.selectors import (
    FreezeState,
    FreezeStatus,
    freeze_mode_of,
    freeze_status,
    frozen_user_ids,
    learners_left,
    population,
)

__all__ = [
    "FinalGradeError",
    "FinalGradeValues",
    "FreezeRound",
    "FreezeState",
    "FreezeStatus",
    "Outcome",
    "complete_course_run_freeze",
    "freeze_course_run",
    "freeze_status",
    "freeze_user_final_grade",
    "get_final_grade",
    "retry_failed_learners",
    "revert_freeze",
    "store_final_grade",
]

SendChunks = Callable[[FreezeRound], None]


class Outcome(StrEnum):
    """What a freeze verb did, or why it did nothing."""

    NOT_DUE = "not_due"  # no freeze date, or not passed
    NOT_STARTED = "not_started"  # no freeze yet
    COMPLETE = "complete"  # already was
    IN_PROGRESS = "in_progress"  # chunks still running
    COMPLETED = "completed"  # marked complete now
    DISPATCHED = "dispatched"  # a round sent
    NOTHING_FAILED = "nothing_failed"


def get_final_grade(user: User, course_run: CourseRun) -> FinalGradeValues:
    """The learner's final grade in the run, computed from the cached edX data.

    Raises FinalGradeError when the cache holds no current grade or malformed records.
    """
    grade_data, enrollment = cached_grade_data(user, course_run)
    return compute_final_grade(
        course_run.has_exam, grade_data.current_grade, grade_data.certificate_read, enrollment
    )


def store_final_grade(user: User, course_run: CourseRun, values: FinalGradeValues) -> FinalGrade:
    """The one FinalGrade of (user, run): created with these values, or the one already there."""
    insert_final_grades(course_run, {user.pk: values})
    return FinalGrade.objects.get(user=user, course_run=course_run)


def freeze_user_final_grade(user: User, course_run: CourseRun) -> FinalGrade:
    """Refresh the learner's edX data, compute and store their final grade; once only.

    Raises CourseRunError when the run's freeze date has not passed, EdxRefreshError
    when edX could not be read, FinalGradeError when no grade can be computed.
    """
    existing = FinalGrade.objects.filter(user=user, course_run=course_run).first()
    if existing is not None:
        return existing
    check_freeze_date_passed(course_run)
    refresh_cached_data(user, [course_run])
    return store_final_grade(user, course_run, get_final_grade(user, course_run))


def freeze_course_run(course_run: CourseRun, send_chunks: SendChunks) -> Outcome:
    """Start or go on with the freeze of a run; returns what it did.

    `send_chunks(freeze_round)` is called once the round is committed. The run's
    grading status row stays locked meanwhile, so two freezes of one run never
    interleave. A course-wide freeze is complete once a round has listed and frozen
    every page of the run; a per-learner one once nobody is left.
    """
    try:
        check_freeze_date_passed(course_run)
    except CourseRunError:
        return Outcome.NOT_DUE
    mode = freeze_mode_of(course_run)
    with transaction.atomic():
        grading_status = rounds.lock_or_begin(course_run)
        if grading_status.is_complete:
            return Outcome.COMPLETE
        if rounds.chunks_in_flight(grading_status):
            return Outcome.IN_PROGRESS
        size = population(course_run).count()
        if mode == CourseRun.COURSE_WIDE:
            if grading_status.fully_listed and rounds.round_finished(grading_status):
                rounds.mark_complete(grading_status, mode)
                return Outcome.COMPLETED
            freeze_round = rounds.start_round(grading_status, mode, mode, size)
        else:
            left = learners_left(course_run, grading_status).order_by("id")
            left_ids = list(left.values_list("id", flat=True))
            if not left_ids:
                rounds.mark_complete(grading_status, mode)
                return Outcome.COMPLETED
            freeze_round = rounds.start_round(
                grading_status, mode, mode, size, rounds.learner_chunks(left_ids)
            )
        transaction.on_commit(lambda: send_chunks(freeze_round))
    return Outcome.DISPATCHED


def complete_course_run_freeze(course_run: CourseRun) -> Outcome:
    """Mark the run complete by hand; refuses while its chunks still run."""
    with transaction.atomic():
        grading_status = rounds.lock(course_run)
        if grading_status is None:
            return Outcome.NOT_STARTED
        if grading_status.is_complete:
            return Outcome.COMPLETE
        if rounds.chunks_in_flight(grading_status):
            return Outcome.IN_PROGRESS
        rounds.mark_complete(grading_status)
        return Outcome.COMPLETED


def revert_freeze(course_run: CourseRun) -> int:
    """Delete the run's final grades (each delete audited) and its grading status, together."""
    with transaction.atomic():
        deleted, _ = FinalGrade.objects.filter(course_run=course_run).delete()
        rounds.discard(course_run)
    return deleted


def retry_failed_learners(
    course_run: CourseRun, send_chunks: SendChunks
) -> tuple[Outcome, FreezeRound | None]:
    """Send a new round made of exactly the run's failed learners; returns (outcome, round).

    The round reads each learner with their own token, whatever the freeze's mode.
    Their failure rows go, so they count as left until their chunk has run; a complete
    run goes back to pending and the round's last chunk reconciles it again. Learners
    frozen by hand since they failed are not retried.
    """
    with transaction.atomic():
        grading_status = rounds.lock(course_run)
        if grading_status is None:
            return Outcome.NOT_STARTED, None
        try:
            check_freeze_date_passed(course_run)
        except CourseRunError:
            return Outcome.NOT_DUE, None
        if rounds.chunks_in_flight(grading_status):
            return Outcome.IN_PROGRESS, None
        failures = grading_status.failures.exclude(user_id__in=frozen_user_ids(course_run))
        failed = list(failures.order_by("user_id").values_list("user_id", flat=True))
        if not failed:
            return Outcome.NOTHING_FAILED, None
        failures.delete()
        freeze_round = rounds.start_round(
            grading_status,
            grading_status.mode,
            CourseRun.PER_LEARNER,
            population(course_run).count(),
            rounds.learner_chunks(failed),
        )
        transaction.on_commit(lambda: send_chunks(freeze_round))
    return Outcome.DISPATCHED, freeze_round
