"""Reads of the freeze: who it is about, who is left, how the run is read, where it stands."""

from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, QuerySet

from courses.models import CourseRun
from dashboard.api import enrolled_with_current_grade, staff_client_configured
from grades.models import CourseRunGradingStatus, FinalGrade, FreezeFailure
from grades.rounds import RoundChunks, chunks_in_flight, round_chunks, round_finished


def population(course_run: CourseRun) -> QuerySet:
    """The learners actively enrolled in the run who have a current grade (as cached)."""
    return get_user_model().objects.filter(id__in=enrolled_with_current_grade(course_run))


def frozen_user_ids(course_run: CourseRun) -> QuerySet:
    return FinalGrade.objects.filter(course_run=course_run).values("user_id")


def has_final_grade(course_run: CourseRun, user: str = "pk") -> Exists:
    """Whether the user of each row (its field `user`) has a final grade in the run.

    Leave the frozen out with `.filter(~has_final_grade(...))`, never with
    `.exclude(id__in=frozen_user_ids(...))`: Django writes that as NOT IN, which
    PostgreSQL cannot hash once the subquery outgrows work_mem, so at 1,000,000 frozen
    learners it read the subquery again for every row (minutes); NOT EXISTS is an
    anti-join (0.27 s at 1,000,000, measured with EXPLAIN ANALYZE).
    """
    return Exists(FinalGrade.objects.filter(course_run=course_run, user_id=OuterRef(user)))


def has_failed(grading_status: CourseRunGradingStatus, user: str = "pk") -> Exists:
    """Whether the user of each row has failed in this freeze (see `has_final_grade`)."""
    return Exists(grading_status.failures.filter(user_id=OuterRef(user)))


def learners_left(course_run: CourseRun, grading_status: CourseRunGradingStatus | None) -> QuerySet:
    """The population less the frozen and those that already failed in this freeze."""
    left = population(course_run).filter(~has_final_grade(course_run))
    if grading_status is not None:
        left = left.filter(~has_failed(grading_status))
    return left


def freeze_mode_of(course_run: CourseRun) -> str:
    """How the run's freeze reads the LMS: the run's own choice, else FREEZE_MODE, else
    course-wide when a staff client is configured."""
    if course_run.freeze_mode != CourseRun.AUTO:
        return course_run.freeze_mode
    if settings.FREEZE_MODE != CourseRun.AUTO:
        return settings.FREEZE_MODE
    return CourseRun.COURSE_WIDE if staff_client_configured() else CourseRun.PER_LEARNER


class FreezeState(StrEnum):
    NOT_STARTED = "not started"
    PROCESSING = "being processed"
    DONE_NOT_MARKED = "done but not marked complete"
    STALLED = "stalled: learners left and no chunk running"
    COMPLETE = "complete"


# (stage, reason, HTTP status or None) -> how many learners failed so
FailureCounts = dict[tuple[str, str, int | None], int]


@dataclass(frozen=True)
class FreezeStatus:
    state: FreezeState
    frozen: int
    failed: int
    left: int
    needed: int
    failures_by_reason: FailureCounts = field(default_factory=dict)
    chunks_done: int = 0
    chunks_total: int = 0
    mode: str = ""
    # Where the chunks of the current round stand, while the freeze is pending.
    chunks: RoundChunks = field(default_factory=RoundChunks)


def _state(grading_status: CourseRunGradingStatus | None, left: int) -> FreezeState:
    if grading_status is None:
        return FreezeState.NOT_STARTED
    if grading_status.is_complete:
        return FreezeState.COMPLETE
    if chunks_in_flight(grading_status):
        return FreezeState.PROCESSING
    if grading_status.mode == CourseRun.COURSE_WIDE:
        done = grading_status.fully_listed and round_finished(grading_status)
        return FreezeState.DONE_NOT_MARKED if done else FreezeState.STALLED
    return FreezeState.DONE_NOT_MARKED if left == 0 else FreezeState.STALLED


def freeze_status(course_run: CourseRun) -> FreezeStatus:
    """Where the freeze of the run stands, from the database alone.

    needed counts everyone the freeze is about: the population, and anyone frozen
    or failed who has left it since. A learner frozen by hand after failing counts
    as frozen only.
    """
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    frozen = frozen_user_ids(course_run)
    failures = FreezeFailure.objects.none()
    if grading_status is not None:
        failures = grading_status.failures.filter(~has_final_grade(course_run, "user_id"))
    by_reason = {
        (row["stage"], row["reason"], row["http_status"]): row["count"]
        for row in failures.values("stage", "reason", "http_status").annotate(count=Count("id"))
    }
    left = learners_left(course_run, grading_status).count()
    # A union, not an OR of three IN subqueries: PostgreSQL cannot hash those past
    # work_mem either (see has_final_grade).
    needed = (
        population(course_run)
        .values_list("id", flat=True)
        .union(frozen.values_list("user_id", flat=True), failures.values_list("user_id", flat=True))
        .count()
    )
    pending = grading_status is not None and not grading_status.is_complete
    return FreezeStatus(
        state=_state(grading_status, left),
        frozen=frozen.count(),
        failed=sum(by_reason.values()),
        left=left,
        needed=needed,
        failures_by_reason=by_reason,
        chunks_done=grading_status.chunks_done if grading_status else 0,
        chunks_total=grading_status.chunks_total if grading_status else 0,
        mode=grading_status.mode if grading_status else "",
        chunks=round_chunks(grading_status) if grading_status and pending else RoundChunks(),
    )


def status_document(course_run: CourseRun, status: FreezeStatus) -> dict:
    """The facts of a run's freeze status as JSON (the command's --json, the pages' polling)."""
    return {
        "edx_course_key": course_run.edx_course_key,
        "state": status.state.name.lower(),
        "state_text": str(status.state),
        "mode": status.mode,
        "frozen": status.frozen,
        "failed": status.failed,
        "left": status.left,
        "needed": status.needed,
        "chunks_done": status.chunks_done,
        "chunks_total": status.chunks_total,
        "failures_by_reason": [
            {"stage": stage, "reason": reason, "http_status": http_status, "count": count}
            for (stage, reason, http_status), count in sorted(
                status.failures_by_reason.items(),
                key=lambda item: (item[0][0], item[0][1], item[0][2] or 0),
            )
        ],
    }
