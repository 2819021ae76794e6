"""Celery tasks of the freeze: thin wrappers that call grades' modules and name the actor."""

import logging
from collections.abc import Callable

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from courses.models import CourseRun
from dashboard.api import EdxRefreshError
from grades import api, chunks, heartbeat, rounds
from grades.audit import acting_as
from grades.models import CourseRunGradingStatus

log = logging.getLogger(__name__)


def send_chunks(freeze_round: rounds.FreezeRound) -> None:
    """Send a committed round to the workers: its listing, or its chunks of learners."""
    if freeze_round.mode == CourseRun.COURSE_WIDE:
        list_course_run.delay(freeze_round.grading_status_id, freeze_round.number)
        return
    task = freeze_unlisted if freeze_round.mode == rounds.UNLISTED else freeze_chunk
    for index, user_ids in enumerate(freeze_round.chunks):
        task.delay(freeze_round.grading_status_id, freeze_round.number, index, user_ids)


def chunk_actor(course_run: CourseRun) -> str:
    return f"task freeze_chunk {course_run.edx_course_key}"


@shared_task
def freeze_course_run(course_run_id: int) -> str:
    """Orchestrate the freeze of one run: dispatch a round, or mark it complete."""
    course_run = CourseRun.objects.select_related("course").get(pk=course_run_id)
    api.refresh_stale_population(course_run)
    return api.freeze_course_run(course_run, send_chunks)


def run_chunk(
    task: Task,
    grading_status_id: int,
    round_number: int,
    index: int,
    freeze: Callable[[CourseRunGradingStatus], tuple[int, int]],
    learners: Callable[[CourseRunGradingStatus], list[int]],
) -> str | dict:
    """Run `freeze(grading_status)` for one chunk of a round that is still current,
    acting as the chunk, with its heartbeat; the round's last chunk to finish reconciles
    the run.

    Every delivery is counted. A chunk delivered more than FREEZE_MAX_DELIVERIES times
    without finishing (it killed its worker each time, or ran past the soft time limit)
    is given up: its `learners(grading_status)` fail (worker_lost), it counts as
    finished, and the round goes on. One interrupted by the soft time limit (its
    transaction rolled back) is sent again. A chunk the LMS fails as a whole (its staff
    token refused, say) is left unfinished: its round stalls, and the periodic task
    picks the run up.
    """
    grading_status = rounds.current_round(grading_status_id, round_number)
    if grading_status is None:
        return "stale"
    delivery = rounds.deliver_chunk(grading_status, round_number, index)
    if delivery.finished:
        return "finished before"
    course_run = grading_status.course_run
    with acting_as(chunk_actor(course_run)):
        if delivery.number > settings.FREEZE_MAX_DELIVERIES:
            frozen, failed = 0, chunks.record_worker_lost(grading_status, learners(grading_status))
            log.error(
                "%s: chunk %d of round %d given up after %d deliveries: %d learners failed",
                course_run, index, round_number, delivery.number - 1, failed,
            )  # fmt: skip
        else:
            try:
                with heartbeat.beating(lambda: rounds.beat_chunk(delivery.chunk_id)):
                    frozen, failed = freeze(grading_status)
            except EdxRefreshError as error:
                log.error("%s: chunk %d failed: %s", course_run, index, error)
                return f"failed: {error}"
            except SoftTimeLimitExceeded:
                log.error("%s: chunk %d ran past its soft time limit", course_run, index)
                raise task.retry(countdown=0) from None
    if rounds.finish_chunk(grading_status, round_number, index):
        freeze_course_run.delay(course_run.id)
    return {"frozen": frozen, "failed": failed}


# Nobody reads the result of a chunk, a page or a listing, and storing it must not
# fail a task whose work is done when Redis is away for a moment. Retries are bounded
# by the deliveries counted in the database, not by Celery.
@shared_task(bind=True, ignore_result=True, max_retries=None)
def freeze_chunk(
    self: Task, grading_status_id: int, round_number: int, index: int, user_ids: list[int]
) -> str | dict:
    """Per-learner mode: freeze a chunk of learners."""
    return run_chunk(
        self,
        grading_status_id,
        round_number,
        index,
        lambda grading_status: chunks.freeze_users(grading_status, user_ids),
        lambda grading_status: user_ids,
    )


@shared_task(bind=True, ignore_result=True, max_retries=None)
def freeze_unlisted(
    self: Task, grading_status_id: int, round_number: int, index: int, user_ids: list[int]
) -> str | dict:
    """Course-wide mode: freeze a chunk of the learners the listing never showed, each
    read with the staff token."""
    return run_chunk(
        self,
        grading_status_id,
        round_number,
        index,
        lambda grading_status: chunks.freeze_unlisted(grading_status, user_ids),
        lambda grading_status: user_ids,
    )


@shared_task(ignore_result=True)
def list_course_run(grading_status_id: int, round_number: int) -> str:
    """Course-wide mode: walk the run's grade pages, a chunk task per page, with a heartbeat.

    If the LMS fails the listing even after the HTTP retries, the round is left to
    stall: the periodic task lists the run again later, skipping who is frozen.
    """
    grading_status = rounds.current_round(grading_status_id, round_number)
    if grading_status is None or not rounds.beat_listing(grading_status):
        return "stale"

    def send_page(index: int, records: list) -> None:
        freeze_course_page.delay(grading_status_id, round_number, index, records)

    try:
        with heartbeat.beating(lambda: rounds.beat_listing(grading_status)):
            finished = chunks.list_course_run(grading_status, send_page)
    except EdxRefreshError as error:
        log.error("%s: listing its grades failed: %s", grading_status.course_run, error)
        return f"failed: {error}"
    if finished:
        freeze_course_run.delay(grading_status.course_run_id)
    return "listed"


@shared_task(bind=True, ignore_result=True, max_retries=None)
def freeze_course_page(
    self: Task, grading_status_id: int, round_number: int, index: int, records: list
) -> str | dict:
    """Course-wide mode: freeze the learners of one page of the run's grades."""
    return run_chunk(
        self,
        grading_status_id,
        round_number,
        index,
        lambda grading_status: chunks.freeze_course_page(grading_status, records),
        lambda grading_status: chunks.page_user_ids(grading_status, records),
    )


@shared_task
def freeze_due_course_runs() -> int:
    """Periodic: start the freeze of every run whose freeze date has passed, and pick up
    those whose round stalled (each orchestration finds out which, and does nothing to a
    run whose chunks are in flight)."""
    due = (
        CourseRun.objects.filter(freeze_grade_date__lte=timezone.now())
        .exclude(grading_status__status=CourseRunGradingStatus.COMPLETE)
        .values_list("id", flat=True)
    )
    for course_run_id in due:
        freeze_course_run.delay(course_run_id)
    return len(due)
