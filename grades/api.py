"""Final grades: computing them by the run's policy, freezing them, and the freeze of a run.

A freeze round takes the run's population (learners enrolled with a current
grade), leaves out who is frozen or already failed this round, and runs the
rest in chunks; the chunk that finishes last reconciles, and the run is
complete when nobody is left.
"""

import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from courses.api import CourseRunError, check_freeze_date_passed
from dashboard.api_edx_cache import EdxRefreshError, refresh_cached_data
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment
from grades.models import CourseRunGradingStatus, FinalGrade, FinishedChunk, FreezeFailure

__all__ = [
    "FinalGradeError",
    "FinalGradeValues",
    "compute_final_grade",
    "freeze_course_run",
    "freeze_status",
    "freeze_user_final_grade",
    "freeze_users",
    "get_final_grade",
]

log = logging.getLogger(__name__)

PAID_MODES = frozenset({"verified", "honor"})
DOWNLOADABLE = "downloadable"


class FinalGradeError(Exception):
    """The final grade cannot be computed from what edX said."""

    stage = FreezeFailure.COMPUTATION
    http_status = None

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FinalGradeValues:
    grade: float
    passed: bool
    paid: bool


def parse_percent(value):
    """edX's percent as a float in [0, 1]; anything that does not parse as one is 0.0."""
    if isinstance(value, bool):
        return 0.0
    try:
        percent = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(percent):
        return 0.0
    return min(max(percent, 0.0), 1.0)


def compute_final_grade(has_exam, current_grade, certificate, enrollment):
    """Apply the run's grading policy to edX's JSON (certificate, enrollment may be None)."""
    enrollment_paid = (enrollment or {}).get("mode") in PAID_MODES
    grade = parse_percent(current_grade.get("percent"))
    if has_exam:
        return FinalGradeValues(
            grade=grade, passed=current_grade.get("passed") is True, paid=enrollment_paid
        )
    if certificate is None:
        return FinalGradeValues(grade=grade, passed=False, paid=enrollment_paid)
    return FinalGradeValues(
        grade=grade,
        passed=certificate.get("status") == DOWNLOADABLE,
        paid=certificate.get("certificate_type") in PAID_MODES,
    )


def _cached(model, user, course_run):
    row = model.objects.filter(user=user, course_run=course_run).only("data").first()
    return row.data if row else None


def get_final_grade(user, course_run):
    """The learner's final grade in the run, computed from the cached edX data."""
    current_grade = _cached(CachedCurrentGrade, user, course_run)
    if current_grade is None:
        raise FinalGradeError("no_current_grade")
    if not isinstance(current_grade, dict):
        raise FinalGradeError("malformed_current_grade")
    return compute_final_grade(
        course_run.has_exam,
        current_grade,
        _cached(CachedCertificate, user, course_run),
        _cached(CachedEnrollment, user, course_run),
    )


def store_final_grade(user, course_run, values):
    """The one FinalGrade of (user, run): created with these values, or the one already there."""
    try:
        with transaction.atomic():
            return FinalGrade.objects.create(
                user=user,
                course_run=course_run,
                grade=values.grade,
                passed=values.passed,
                paid=values.paid,
            )
    except IntegrityError:
        return FinalGrade.objects.get(user=user, course_run=course_run)


def freeze_user_final_grade(user, course_run):
    """Refresh the learner's edX data, compute and store their final grade; once only.

    Raises CourseRunError when the run's freeze date has not passed.
    """
    existing = FinalGrade.objects.filter(user=user, course_run=course_run).first()
    if existing is not None:
        return existing
    check_freeze_date_passed(course_run)
    refresh_cached_data(user, [course_run])
    return store_final_grade(user, course_run, get_final_grade(user, course_run))


# The freeze of a course run


def population(course_run):
    """The learners actively enrolled in the run who have a current grade."""
    enrolled = CachedEnrollment.objects.filter(course_run=course_run, data__is_active=True)
    graded = CachedCurrentGrade.objects.filter(course_run=course_run)
    return (
        get_user_model()
        .objects.filter(id__in=enrolled.values("user_id"))
        .filter(id__in=graded.values("user_id"))
    )


def frozen_user_ids(course_run):
    return FinalGrade.objects.filter(course_run=course_run).values("user_id")


def learners_left(course_run, grading_status):
    """The population less the frozen and those that already failed this round."""
    left = population(course_run).exclude(id__in=frozen_user_ids(course_run))
    if grading_status is not None:
        left = left.exclude(id__in=grading_status.failures.values("user_id"))
    return left


def chunks_in_flight(grading_status):
    """Whether chunks of the current round are still running (not finished, not stalled).

    Tasks run in-process run inside the command that started them: once it is gone
    (finished or interrupted), none of its chunks is left running anywhere.
    """
    if current_app.conf.task_always_eager:
        return False
    if grading_status.chunks_done >= grading_status.chunks_total:
        return False
    stall = timedelta(seconds=settings.FREEZE_STALL_SECONDS)
    progressed_on = grading_status.progressed_on
    return progressed_on is not None and progressed_on > timezone.now() - stall


def mark_complete(grading_status):
    grading_status.status = CourseRunGradingStatus.COMPLETE
    grading_status.completed_on = timezone.now()
    grading_status.save(update_fields=["status", "completed_on"])


@dataclass(frozen=True)
class FreezeRound:
    """The chunks of learners one round of a run's freeze sends to the workers.

    A round is named by its grading status and number: a chunk of an older round
    (or of a status reverted since) finds it is no longer current and does nothing.
    """

    grading_status_id: int
    number: int
    chunks: list = field(default_factory=list)


def freeze_course_run(course_run, send_chunks):
    """Start or go on with the freeze of a run; returns what it did.

    Outcomes: "not_due" (no freeze date, or not passed), "complete" (already was),
    "in_progress" (chunks still running), "completed" (nobody left: marked complete
    now), "dispatched" (a round of chunks sent). `send_chunks(freeze_round)` is called
    once the round is committed.
    """
    try:
        check_freeze_date_passed(course_run)
    except CourseRunError:
        return "not_due"
    with transaction.atomic():
        grading_status, _ = CourseRunGradingStatus.objects.select_for_update().get_or_create(
            course_run=course_run
        )
        if grading_status.is_complete:
            return "complete"
        if chunks_in_flight(grading_status):
            return "in_progress"
        left = list(
            learners_left(course_run, grading_status).order_by("id").values_list("id", flat=True)
        )
        if not left:
            mark_complete(grading_status)
            return "completed"
        size = settings.FREEZE_CHUNK_SIZE
        chunks = [left[i : i + size] for i in range(0, len(left), size)]
        grading_status.dispatch += 1
        grading_status.population = population(course_run).count()
        grading_status.chunks_total = len(chunks)
        grading_status.chunks_done = 0
        grading_status.progressed_on = timezone.now()
        grading_status.save()
        freeze_round = FreezeRound(grading_status.pk, grading_status.dispatch, chunks)
        transaction.on_commit(lambda: send_chunks(freeze_round))
    return "dispatched"


def current_round(grading_status_id, round_number):
    """The run's grading status if this round is still the one to work on, else None."""
    return (
        CourseRunGradingStatus.objects.select_related("course_run__course")
        .filter(pk=grading_status_id, dispatch=round_number, status=CourseRunGradingStatus.PENDING)
        .first()
    )


def record_failure(grading_status, user, stage, reason, http_status=None):
    FreezeFailure.objects.update_or_create(
        grading_status=grading_status,
        user=user,
        defaults={"stage": stage, "reason": reason[:255], "http_status": http_status},
    )


def freeze_users(grading_status, user_ids):
    """Freeze each learner of a chunk, recording a failure for those that cannot be frozen."""
    course_run = grading_status.course_run
    CourseRunGradingStatus.objects.filter(pk=grading_status.pk).update(progressed_on=timezone.now())
    users = get_user_model().objects.filter(id__in=user_ids).order_by("id")
    frozen = failed = 0
    for user in users:
        try:
            freeze_user_final_grade(user, course_run)
            frozen += 1
        except (EdxRefreshError, FinalGradeError) as error:
            record_failure(grading_status, user, error.stage, error.reason, error.http_status)
            failed += 1
        except (OperationalError, InterfaceError):
            # The database is away, not the learner at fault: the chunk fails and its
            # learners stay left for the next round.
            raise
        except Exception as error:  # one learner's bug must not stop the others
            # Logged at ERROR level, which Sentry's logging integration reports.
            log.exception("unexpected failure freezing user %s in %s", user.pk, course_run)
            record_failure(grading_status, user, FreezeFailure.UNEXPECTED, type(error).__name__)
            failed += 1
    return frozen, failed


def finish_chunk(grading_status, round_number, index):
    """Record a finished chunk of this round, once; True when the round is all done."""
    with transaction.atomic():
        grading_status = (
            CourseRunGradingStatus.objects.select_for_update()
            .filter(pk=grading_status.pk, dispatch=round_number)
            .first()
        )
        if grading_status is None:
            return False
        _, first_time = FinishedChunk.objects.get_or_create(
            grading_status=grading_status, round=round_number, index=index
        )
        if first_time:
            grading_status.chunks_done += 1
            grading_status.progressed_on = timezone.now()
            grading_status.save(update_fields=["chunks_done", "progressed_on"])
    log.info(
        "%s: %d of %d chunks done",
        grading_status.course_run.edx_course_key,
        grading_status.chunks_done,
        grading_status.chunks_total,
    )
    return grading_status.chunks_done == grading_status.chunks_total


def complete_course_run_freeze(course_run):
    """Mark the run complete by hand; refuses while its chunks still run. Returns the outcome."""
    with transaction.atomic():
        grading_status = (
            CourseRunGradingStatus.objects.select_for_update().filter(course_run=course_run).first()
        )
        if grading_status is None:
            return "not_started"
        if grading_status.is_complete:
            return "complete"
        if chunks_in_flight(grading_status):
            return "in_progress"
        mark_complete(grading_status)
        return "completed"


# Status

NOT_STARTED = "not started"
PROCESSING = "being processed"
DONE_NOT_MARKED = "done but not marked complete"
STALLED = "stalled: learners left and no chunk running"
COMPLETE = "complete"


@dataclass(frozen=True)
class FreezeStatus:
    state: str
    frozen: int
    failed: int
    left: int
    needed: int
    failures_by_reason: dict
    chunks_done: int = 0
    chunks_total: int = 0


def freeze_status(course_run):
    """Where the freeze of the run stands, from the database alone.

    needed counts everyone the freeze is about: the population, and anyone frozen
    or failed who has left it since. A learner frozen by hand after failing counts
    as frozen only.
    """
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    frozen = frozen_user_ids(course_run)
    failures = FreezeFailure.objects.none()
    if grading_status is not None:
        failures = grading_status.failures.exclude(user_id__in=frozen)
    by_reason = {
        (row["stage"], row["reason"], row["http_status"]): row["count"]
        for row in failures.values("stage", "reason", "http_status").annotate(count=Count("id"))
    }
    left = learners_left(course_run, grading_status).count()
    needed = (
        get_user_model()
        .objects.filter(
            Q(id__in=population(course_run).values("id"))
            | Q(id__in=frozen)
            | Q(id__in=failures.values("user_id"))
        )
        .count()
    )
    if grading_status is None:
        state = NOT_STARTED
    elif grading_status.is_complete:
        state = COMPLETE
    elif chunks_in_flight(grading_status):
        state = PROCESSING
    elif left == 0:
        state = DONE_NOT_MARKED
    else:
        state = STALLED
    return FreezeStatus(
        state=state,
        frozen=frozen.count(),
        failed=sum(by_reason.values()),
        left=left,
        needed=needed,
        failures_by_reason=by_reason,
        chunks_done=grading_status.chunks_done if grading_status else 0,
        chunks_total=grading_status.chunks_total if grading_status else 0,
    )


def revert_freeze(course_run):
    """Delete the run's final grades (each delete audited) and its grading status, together."""
    with transaction.atomic():
        deleted, _ = FinalGrade.objects.filter(course_run=course_run).delete()
        CourseRunGradingStatus.objects.filter(course_run=course_run).delete()
    return deleted
