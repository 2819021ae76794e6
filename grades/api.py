"""Final grades: the verbs other code calls (the runbook's `from grades.api import *`).

A freeze round takes the run's population (learners enrolled with a current grade),
leaves out who is frozen or already failed, and runs the rest in chunks on the
workers; the chunk that finishes last reconciles, and the run is complete when nobody
is left. `grades.rounds` keeps the rounds' state, `grades.chunks` does a chunk's work,
`grades.selectors` reads, `grades.policy` computes a final grade.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import User
from django.db import models, transaction

from courses.api import CourseRunError, check_freeze_date_passed
from courses.models import CourseRun
from dashboard.api import Reason, cached_grade_data, refresh_cached_data, refresh_stale_learners
from grades import rounds
from grades.audit import (
    RestoreRefused,
    archive_and_delete,
    current_actor,
    insert_final_grades,
    record_action,
    restore_archived,
)
from grades.models import (
    CourseRunGradingStatus,
    FinalGrade,
    FinalGradeRevert,
    FreezeAction,
    FreezeFailure,
)
from grades.policy import FinalGradeError, FinalGradeValues, compute_final_grade
from grades.rounds import FreezeRound
from grades.selectors import (
    FreezeState,
    FreezeStatus,
    freeze_mode_of,
    freeze_status,
    has_final_grade,
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
    "Refused",
    "RevertDone",
    "complete_by_hand",
    "complete_course_run_freeze",
    "freeze_at_sign_in",
    "freeze_course_run",
    "freeze_status",
    "freeze_user_final_grade",
    "get_final_grade",
    "refresh_stale_population",
    "refused_token_failures",
    "release_refused_tokens",
    "restore_revert",
    "retry_failed",
    "retry_failed_learners",
    "revert_course_run",
    "revert_freeze",
    "revert_plan",
    "start_freeze",
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
    NOTHING_TO_REVERT = "nothing_to_revert"
    NOT_RESTORABLE = "not_restorable"  # restored already, or learners frozen again since


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


def refresh_stale_population(course_run: CourseRun) -> tuple[int, int]:
    """Before a per-learner freeze's first round takes the run's population from the
    cache: read again every linked learner whose enrollments are older than
    EDX_CACHE_MAX_AGE, so one who enrolled since the last refresh is in it; returns
    (refreshed, failed). Only before the first round: the orchestrator runs again at
    every round's end and every FREEZE_SCHEDULE_SECONDS while the run is pending, and a
    learner whose read fails (edX refused their tokens) stays stale, so reading the stale
    ones each time would spend a token grant on each of them again and again; later
    rounds take who beat's periodic refresh (EDX_CACHE_REFRESH_SECONDS) brought in. A
    course-wide round lists the run from the LMS itself."""
    if freeze_mode_of(course_run) != CourseRun.PER_LEARNER:
        return 0, 0
    if CourseRunGradingStatus.objects.filter(course_run=course_run).exists():
        return 0, 0
    try:
        check_freeze_date_passed(course_run)
    except CourseRunError:
        return 0, 0
    return refresh_stale_learners()


def freeze_course_run(course_run: CourseRun, send_chunks: SendChunks) -> Outcome:
    """Start or go on with the freeze of a run; returns what it did.

    `send_chunks(freeze_round)` is called once the round is committed. The run's
    grading status row stays locked meanwhile, so two freezes of one run never
    interleave. A course-wide freeze is complete once a round has listed and frozen
    every page of the run and nobody is left (who the listing never showed is read alone
    with the staff token, in a round of their own); a per-learner one once nobody is left.
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
        if mode == CourseRun.COURSE_WIDE and not (
            grading_status.fully_listed and rounds.round_finished(grading_status)
        ):
            freeze_round = rounds.start_round(grading_status, mode, mode, size)
        else:
            # Per learner: whoever is left. Course-wide once every page is listed and
            # frozen: frozen + failed = needed, so whom the listing never showed is read alone.
            left = learners_left(course_run, grading_status).order_by("id")
            left_ids = list(left.values_list("id", flat=True))
            if not left_ids:
                rounds.mark_complete(grading_status, mode)
                return Outcome.COMPLETED
            round_mode = rounds.UNLISTED if mode == CourseRun.COURSE_WIDE else mode
            freeze_round = rounds.start_round(
                grading_status, mode, round_mode, size, rounds.learner_chunks(left_ids)
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


@dataclass(frozen=True)
class RevertDone:
    """What a revert of a run deleted (or, planned, would delete), and its revert id."""

    final_grades: int
    statuses: int
    failures: int
    revert_id: int | None = None


def revert_plan(course_run: CourseRun) -> RevertDone:
    """What reverting the run would delete; writes nothing."""
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    return RevertDone(
        final_grades=FinalGrade.objects.filter(course_run=course_run).count(),
        statuses=int(grading_status is not None),
        failures=grading_status.failures.count() if grading_status else 0,
    )


def revert_freeze(course_run: CourseRun) -> RevertDone:
    """Delete the run's final grades and its grading status (with its failures), together,
    all archived under one revert (each final grade's delete audited) that
    `restore_revert` puts back. No revert is made when there is nothing to delete."""
    with transaction.atomic():
        plan = revert_plan(course_run)
        if not plan.final_grades and not plan.statuses:
            return plan
        revert = FinalGradeRevert.objects.create(actor=current_actor())
        archive_and_delete(FinalGrade.objects.filter(course_run=course_run), revert)
        state = rounds.discard(course_run)
        if state is not None:
            revert.grading_statuses = [state]
            revert.save(update_fields=["grading_statuses"])
    return RevertDone(plan.final_grades, plan.statuses, plan.failures, revert.pk)


def retry_failed_learners(
    course_run: CourseRun, send_chunks: SendChunks, reasons: Collection[str] | None = None
) -> tuple[Outcome, FreezeRound | None]:
    """Send a new round made of exactly the run's failed learners (only those failed for
    one of `reasons`, when given); returns (outcome, round).

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
        failures = grading_status.failures.filter(~has_final_grade(course_run, "user_id"))
        if reasons is not None:
            failures = failures.filter(reason__in=reasons)
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


# What operators ask for, from a page, the API or a command: each refuses as the
# commands do (Refused, with the message they print), and records who did it.


class Refused(Exception):
    """The freeze refuses this request as the run stands; the message says why and what
    to do. Nothing was written."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def _still_running(key: str) -> Refused:
    return Refused(
        f"The freeze of {key} still has chunks running: wait, "
        "or see check_final_grade_freeze_status.",
        Outcome.IN_PROGRESS,
    )


def _not_started(key: str) -> Refused:
    return Refused(
        f"The freeze of {key} has not started: run freeze_final_grades.", Outcome.NOT_STARTED
    )


def start_freeze(course_run: CourseRun, submit: Callable[[CourseRun], None]) -> None:
    """Check that the run can be frozen now and hand it to `submit` (the orchestrator
    task); refused when its freeze date has not passed, it is complete, or its chunks
    are running."""
    key = course_run.edx_course_key
    try:
        check_freeze_date_passed(course_run)
    except CourseRunError as error:
        raise Refused(str(error), Outcome.NOT_DUE) from None
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    if grading_status is not None and grading_status.is_complete:
        raise Refused(
            f"Final grades of {key} are already frozen "
            f"(complete since {grading_status.completed_on:%Y-%m-%d %H:%M} UTC).",
            Outcome.COMPLETE,
        )
    if grading_status is not None and rounds.chunks_in_flight(grading_status):
        raise Refused(
            f"The freeze of {key} is already being processed "
            f"({grading_status.chunks_done} of {grading_status.chunks_total} chunks done): "
            "see check_final_grade_freeze_status.",
            Outcome.IN_PROGRESS,
        )
    record_action(course_run, FreezeAction.FREEZE)
    submit(course_run)


def retry_failed(course_run: CourseRun, send_chunks: SendChunks) -> FreezeRound:
    """retry_failed_learners for an operator: refused unless a round of failed learners
    was sent."""
    key = course_run.edx_course_key
    outcome, freeze_round = retry_failed_learners(course_run, send_chunks)
    if outcome == Outcome.NOT_STARTED:
        raise _not_started(key)
    if outcome == Outcome.NOT_DUE:
        raise Refused(
            f"The freeze grade date of {key} is unset or in the future: nothing to retry now.",
            outcome,
        )
    if outcome == Outcome.IN_PROGRESS:
        raise _still_running(key)
    if outcome == Outcome.NOTHING_FAILED or freeze_round is None:
        raise Refused(f"No learner of {key} is recorded as failed; nothing changed.", outcome)
    learners = sum(len(chunk) for chunk in freeze_round.chunks)
    record_action(course_run, FreezeAction.RETRY, f"{learners} failed learners")
    return freeze_round


def complete_by_hand(course_run: CourseRun) -> int:
    """complete_course_run_freeze for an operator; returns how many learners were left."""
    key = course_run.edx_course_key
    outcome = complete_course_run_freeze(course_run)
    if outcome == Outcome.NOT_STARTED:
        raise _not_started(key)
    if outcome == Outcome.IN_PROGRESS:
        raise _still_running(key)
    if outcome == Outcome.COMPLETE:
        raise Refused(f"The freeze of {key} was already complete; nothing changed.", outcome)
    left = freeze_status(course_run).left
    record_action(course_run, FreezeAction.COMPLETE, f"{left} learners left unfrozen")
    return left


def revert_course_run(course_run: CourseRun) -> RevertDone:
    """revert_freeze for an operator: refused while chunks run (they would write grades
    into a run being reverted) and when there is nothing to revert."""
    key = course_run.edx_course_key
    with transaction.atomic():
        grading_status = rounds.lock(course_run)
        if grading_status is not None and rounds.chunks_in_flight(grading_status):
            raise _still_running(key)
        done = revert_freeze(course_run)
        if done.revert_id is None:
            raise Refused(
                f"{key} has no final grade and no freeze to revert; nothing changed.",
                Outcome.NOTHING_TO_REVERT,
            )
        record_action(
            course_run,
            FreezeAction.REVERT,
            f"revert {done.revert_id}: {done.final_grades} final grades archived",
        )
    return done


def restore_revert(revert: FinalGradeRevert) -> list[CourseRun]:
    """Put back the final grades a revert archived, and the freeze state it discarded
    where the run has none since; returns the runs restored.

    Refused when it was restored already or a learner has been frozen again since.
    """
    with transaction.atomic():
        try:
            course_run_ids = restore_archived(revert)
        except RestoreRefused as error:
            raise Refused(str(error), Outcome.NOT_RESTORABLE) from None
        for state in revert.grading_statuses:
            rounds.reinstate(state)
            course_run_ids = sorted({*course_run_ids, state["course_run_id"]})
        course_runs = list(CourseRun.objects.filter(pk__in=course_run_ids).order_by("pk"))
        for course_run in course_runs:
            record_action(course_run, FreezeAction.RESTORE, f"revert {revert.pk}")
    return course_runs


# A learner signs in with edX: what it changes to the freeze of their runs.


def refused_token_failures(user: User) -> models.QuerySet[FreezeFailure]:
    """The learner's failures because edX refused their tokens, in runs where they are
    still not frozen."""
    return FreezeFailure.objects.filter(user=user, reason=Reason.REAUTHENTICATION_REQUIRED).exclude(
        grading_status__course_run__in=FinalGrade.objects.filter(user=user).values("course_run")
    )


def release_refused_tokens(user: User) -> int:
    """The learner linked their edX account again (fresh tokens): their failures for
    refused tokens in runs still being frozen are dropped, so they count as left and
    the next round of the run (the periodic task's) reads them with the new tokens;
    returns how many. In a complete run the failure stays until it is retried, by
    `retry_failed_final_grades` or by the freeze at sign-in (`freeze_at_sign_in`)."""
    pending = refused_token_failures(user).exclude(
        grading_status__status=CourseRunGradingStatus.COMPLETE
    )
    return pending.delete()[0]


def freeze_at_sign_in(user: User) -> list[CourseRun]:
    """Freeze the learner's final grade in every run whose freeze has started without
    them (they linked their edX account late, or edX refused their tokens then), from
    the cache the sign-in just refreshed; returns the runs frozen now.

    Each is audited with the current actor (the sign-in task names the learner), and
    their failure in that run goes with it; a run whose cache cannot give a grade is
    left as it is (the learner is not in its population, or the freeze records why).
    """
    frozen = []
    runs = (
        CourseRun.objects.filter(grading_status__isnull=False)
        .exclude(pk__in=FinalGrade.objects.filter(user=user).values("course_run"))
        .select_related("course")
        .order_by("pk")
    )
    for course_run in runs:
        if not population(course_run).filter(pk=user.pk).exists():
            continue
        try:
            values = get_final_grade(user, course_run)
        except FinalGradeError:
            continue
        with transaction.atomic():
            if insert_final_grades(course_run, {user.pk: values}):
                frozen.append(course_run)
            FreezeFailure.objects.filter(grading_status__course_run=course_run, user=user).delete()
    return frozen
