"""The rounds of a run's freeze: the only code that changes a CourseRunGradingStatus
and its chunks.

One function per transition. A round is named by its grading status and number: a
chunk of an older round (or of a status reverted since) finds it is no longer
current and does nothing. Transitions that decide something lock the status row, so
two of them never interleave for one run.

A round is in flight while any of its chunks (or its course-wide listing) is running,
which its heartbeat tells, or may still be waiting in the broker's queue. Once none
is, the chunks left unfinished are lost (their worker died, or the broker lost their
messages) and the next orchestration starts a new round with who is left.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from celery import current_app
from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest, Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from courses.models import CourseRun
from gradefreeze.bulk_writes import insert_rows
from grades import broker
from grades.audit import current_actor
from grades.models import Chunk, CourseRunGradingStatus, FinalGradeRevert, FreezeFailure
from grades.signals import chunk_finished

# A chunk or listing silent for this many heartbeats is taken as dead.
HEARTBEATS_MISSED = 3
# The round mode of a course-wide freeze's completeness round: chunks of the learners
# the listing never showed, each read alone with the staff token.
UNLISTED = "unlisted"


@dataclass(frozen=True)
class FreezeRound:
    """One round of a run's freeze, for the workers.

    A per-learner round carries its chunks of user ids; a course-wide round finds its
    chunks (pages of the run's grades) as it lists them.
    """

    grading_status_id: int
    number: int
    mode: str = CourseRun.PER_LEARNER
    chunks: list[list[int]] = field(default_factory=list)


def learner_chunks(user_ids: list[int]) -> list[list[int]]:
    """User ids in chunks of FREEZE_CHUNK_SIZE, a per-learner task each."""
    size = settings.FREEZE_CHUNK_SIZE
    return [user_ids[i : i + size] for i in range(0, len(user_ids), size)]


# Reading the state


def heartbeat_timeout() -> timedelta:
    """How long a running chunk may go without a heartbeat before it is taken as dead."""
    return timedelta(seconds=HEARTBEATS_MISSED * settings.FREEZE_HEARTBEAT_SECONDS)


def round_finished(grading_status: CourseRunGradingStatus) -> bool:
    """Every chunk of the current round is known and has finished."""
    return grading_status.listed and grading_status.chunks_done >= grading_status.chunks_total


@dataclass(frozen=True)
class RoundChunks:
    """Where the chunks of a round stand (by the database's clock)."""

    done: int = 0
    running: int = 0  # delivered, heartbeat fresh
    silent: int = 0  # delivered, unfinished, heartbeat stale: its worker died
    not_started: int = 0  # never delivered: queued, or lost with the broker
    listing_running: bool = False


def round_chunks(grading_status: CourseRunGradingStatus) -> RoundChunks:
    """Where the chunks of the run's current round stand, from their rows: a chunk
    has one from its first delivery."""
    alive = Q(beat_on__gte=Now() - heartbeat_timeout())
    counts = Chunk.objects.filter(
        grading_status_id=grading_status.pk, round=grading_status.round
    ).aggregate(
        delivered=Count("id"),
        done=Count("id", filter=Q(finished_on__isnull=False)),
        running=Count("id", filter=Q(finished_on__isnull=True) & alive),
    )
    listing_running = (
        not grading_status.listed
        and CourseRunGradingStatus.objects.filter(
            pk=grading_status.pk, listing_beat_on__gte=Now() - heartbeat_timeout()
        ).exists()
    )
    return RoundChunks(
        done=counts["done"],
        running=counts["running"],
        silent=counts["delivered"] - counts["done"] - counts["running"],
        not_started=max(grading_status.chunks_total - counts["delivered"], 0),
        listing_running=listing_running,
    )


def chunks_in_flight(grading_status: CourseRunGradingStatus) -> bool:
    """Whether chunks of the current round may still finish: one (or the listing) is
    running, or the broker's queue holds messages that may be the round's.

    A chunk merely queued behind other work is never taken as lost, whatever its wait. A
    round just started counts as in flight for a heartbeat timeout: its messages are
    sent once it is committed. Tasks run in-process run inside the command that started
    them: once it is gone (finished or interrupted), none of its chunks is left anywhere.
    """
    if current_app.conf.task_always_eager:
        return False
    if round_finished(grading_status):
        return False
    started_on = grading_status.round_started_on
    if started_on is not None and started_on > timezone.now() - heartbeat_timeout():
        return True
    chunks = round_chunks(grading_status)
    if chunks.running or chunks.listing_running:
        return True
    return broker.queue_holds_messages()


def current_round(grading_status_id: int, round_number: int) -> CourseRunGradingStatus | None:
    """The run's grading status if this round is still the one to work on, else None."""
    return (
        CourseRunGradingStatus.objects.select_related("course_run__course")
        .filter(pk=grading_status_id, round=round_number, status=CourseRunGradingStatus.PENDING)
        .first()
    )


# Transitions (call the locking ones inside a transaction)


def lock(course_run: CourseRun) -> CourseRunGradingStatus | None:
    """The run's grading status, if its freeze has started, locked until the transaction ends."""
    return CourseRunGradingStatus.objects.select_for_update().filter(course_run=course_run).first()


def lock_or_begin(course_run: CourseRun) -> CourseRunGradingStatus:
    """The run's grading status, locked until the transaction ends; a new freeze's if none."""
    return CourseRunGradingStatus.objects.select_for_update().get_or_create(course_run=course_run)[
        0
    ]


# A freeze's state as `discard` keeps it: every field of its status but its keys.
STATE_FIELDS = tuple(
    field.name
    for field in CourseRunGradingStatus._meta.concrete_fields
    if field.name not in ("id", "course_run")
)
DATETIME_FIELDS = frozenset(
    field.name
    for field in CourseRunGradingStatus._meta.concrete_fields
    if isinstance(field, models.DateTimeField)
)
FAILURE_FIELDS = ("user_id", "stage", "reason", "http_status", "failed_on")


def kept_state(grading_status: CourseRunGradingStatus) -> dict:
    """The freeze state of a status, failures included, as `reinstate` takes it back (JSON)."""
    return {
        "course_run_id": grading_status.course_run_id,
        **{name: _json(getattr(grading_status, name)) for name in STATE_FIELDS},
        "failures": [
            {name: _json(value) for name, value in zip(FAILURE_FIELDS, row, strict=True)}
            for row in grading_status.failures.order_by("user_id").values_list(*FAILURE_FIELDS)
        ],
    }


def discard(course_run: CourseRun) -> dict | None:
    """Forget the run's freeze state (its failures and finished chunks with it); returns
    it as `reinstate` takes it back, or None if the freeze had not started."""
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    if grading_status is None:
        return None
    state = kept_state(grading_status)
    grading_status.delete()
    return state


def discard_statuses(queryset: models.QuerySet) -> tuple[int, dict[str, int]]:
    """Delete these grading statuses (the runbook's revert, typed in a shell), keeping
    their states and failures under a revert of their own, which `restore_final_grades`
    puts back."""
    with transaction.atomic(using=queryset.db):
        statuses = list(queryset.select_for_update())
        if statuses:
            FinalGradeRevert.objects.using(queryset.db).create(
                actor=current_actor(), grading_statuses=[kept_state(s) for s in statuses]
            )
        return models.QuerySet.delete(queryset)


def reinstate(state: dict) -> bool:
    """Put back a freeze state `discard` returned, failures included, unless the run has
    one again; True if it did. Chunks of its rounds were sent for the discarded status
    row, so none of them can count for this one."""
    if CourseRunGradingStatus.objects.filter(course_run_id=state["course_run_id"]).exists():
        return False
    grading_status = CourseRunGradingStatus.objects.create(
        course_run_id=state["course_run_id"],
        **{name: _from_json(name, state.get(name)) for name in STATE_FIELDS},
    )
    # auto_now_add overrode it on create
    CourseRunGradingStatus.objects.filter(pk=grading_status.pk).update(
        started_on=parse_datetime(state["started_on"])
    )
    insert_rows(  # as they were: a model's bulk_create would set failed_on to now
        FreezeFailure,
        [
            {
                "grading_status": grading_status.pk,
                "user": failure["user_id"],
                "stage": failure["stage"],
                "reason": failure["reason"],
                "http_status": failure["http_status"],
                "failed_on": parse_datetime(failure["failed_on"]),
            }
            for failure in state["failures"]
        ],
    )
    return True


def _from_json(name: str, value: object) -> object:
    """A field of a kept state back as the model holds it (an older state may lack it)."""
    if value is None:
        return cast(models.Field, CourseRunGradingStatus._meta.get_field(name)).get_default()
    return parse_datetime(str(value)) if name in DATETIME_FIELDS else value


def _json(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def start_round(
    grading_status: CourseRunGradingStatus,
    mode: str,
    round_mode: str,
    population: int,
    chunks: list[list[int]] | None = None,
) -> FreezeRound:
    """A new round of the freeze (whose mode is `mode`) reading the LMS by `round_mode`:
    per learner, in these `chunks` of user ids; course-wide, its chunks listed as it goes;
    UNLISTED, these `chunks` of user ids read with the staff token."""
    chunks = chunks or []
    grading_status.status = CourseRunGradingStatus.PENDING
    grading_status.completed_on = None
    grading_status.mode = mode
    grading_status.round += 1
    grading_status.round_mode = round_mode
    grading_status.listed = round_mode != CourseRun.COURSE_WIDE
    grading_status.population = population
    grading_status.chunks_total = len(chunks)
    grading_status.chunks_done = 0
    grading_status.round_started_on = timezone.now()
    grading_status.listing_beat_on = None
    grading_status.save()
    return FreezeRound(grading_status.pk, grading_status.round, round_mode, chunks)


def mark_complete(grading_status: CourseRunGradingStatus, mode: str | None = None) -> None:
    """The freeze is complete (`mode`: the freeze's mode, if no round ever ran)."""
    grading_status.status = CourseRunGradingStatus.COMPLETE
    grading_status.completed_on = timezone.now()
    if mode is not None and not grading_status.mode:
        grading_status.mode = mode
    grading_status.save(update_fields=["status", "completed_on", "mode"])


def beat_listing(grading_status: CourseRunGradingStatus) -> bool:
    """The course-wide listing of the round has started, or is still alive; False if the
    round is no longer current."""
    updated = CourseRunGradingStatus.objects.filter(
        pk=grading_status.pk, round=grading_status.round
    ).update(listing_beat_on=Now())
    return bool(updated)


def page_listed(grading_status: CourseRunGradingStatus, index: int) -> bool:
    """A course-wide round has listed page `index`; False if the round is no longer current."""
    updated = CourseRunGradingStatus.objects.filter(
        pk=grading_status.pk, round=grading_status.round
    ).update(chunks_total=Greatest(F("chunks_total"), index + 1), listing_beat_on=Now())
    return bool(updated)


def listing_finished(
    grading_status: CourseRunGradingStatus, pages: int
) -> CourseRunGradingStatus | None:
    """A course-wide round has listed all its `pages`: its chunks are all known. Returns
    the status as it is then, or None if the round is no longer current.

    `fully_listed` says a listing round of this freeze has listed and frozen every page;
    once true it stays true until the freeze is reverted."""
    with transaction.atomic():
        current = (
            CourseRunGradingStatus.objects.select_for_update()
            .filter(pk=grading_status.pk, round=grading_status.round)
            .first()
        )
        if current is None:
            return None
        current.listed = True
        current.chunks_total = pages
        if current.chunks_done >= pages:
            current.fully_listed = True
        current.save(update_fields=["listed", "chunks_total", "fully_listed"])
    return current


@dataclass(frozen=True)
class Delivery:
    """A chunk handed to a worker: the how-manieth time, and whether it had finished."""

    chunk_id: int
    number: int
    finished: bool


def deliver_chunk(
    grading_status: CourseRunGradingStatus, round_number: int, index: int
) -> Delivery:
    """Count a delivery of a chunk and give it its first heartbeat.

    The chunk's row is locked while it is counted, so deliveries that arrive together
    (a message the broker handed out twice) are each counted once.
    """
    with transaction.atomic():
        chunk, _ = Chunk.objects.select_for_update().get_or_create(
            grading_status_id=grading_status.pk, round=round_number, index=index
        )
        Chunk.objects.filter(pk=chunk.pk).update(deliveries=F("deliveries") + 1, beat_on=Now())
    return Delivery(chunk.pk, chunk.deliveries + 1, chunk.finished_on is not None)


def beat_chunk(chunk_id: int) -> None:
    """The chunk is still at work."""
    Chunk.objects.filter(pk=chunk_id, finished_on__isnull=True).update(beat_on=Now())


def finish_chunk(grading_status: CourseRunGradingStatus, round_number: int, index: int) -> bool:
    """Record a finished chunk of this round, once; True when the round is then all done.

    A course-wide round all done has listed and frozen every page of the run.
    """
    with transaction.atomic():
        current = (
            CourseRunGradingStatus.objects.select_for_update()
            .filter(pk=grading_status.pk, round=round_number)
            .first()
        )
        if current is None:
            return False
        chunk, _ = Chunk.objects.get_or_create(
            grading_status=current, round=round_number, index=index
        )
        first_time = chunk.finished_on is None
        if first_time:
            Chunk.objects.filter(pk=chunk.pk).update(finished_on=Now())
            current.chunks_done += 1
            if current.round_mode == CourseRun.COURSE_WIDE and round_finished(current):
                current.fully_listed = True
            current.save(update_fields=["chunks_done", "fully_listed"])
    if first_time:
        chunk_finished.send(sender=CourseRunGradingStatus, grading_status=current)
    return round_finished(current)
