"""Celery tasks of the freeze: thin wrappers that call grades.api and name the actor."""

from celery import shared_task
from django.utils import timezone

from courses.models import CourseRun
from grades import api
from grades.audit import acting_as
from grades.models import CourseRunGradingStatus


def send_chunks(freeze_round):
    for index, user_ids in enumerate(freeze_round.chunks):
        freeze_chunk.delay(freeze_round.grading_status_id, freeze_round.number, index, user_ids)


@shared_task
def freeze_course_run(course_run_id):
    """Orchestrate the freeze of one run: dispatch who is left, or mark it complete."""
    course_run = CourseRun.objects.select_related("course").get(pk=course_run_id)
    return api.freeze_course_run(course_run, send_chunks)


# Nobody reads a chunk's result, and storing it must not fail a chunk whose work is
# done when Redis is away for a moment.
@shared_task(ignore_result=True)
def freeze_chunk(grading_status_id, round_number, index, user_ids):
    """Freeze a chunk of learners; the round's last chunk reconciles the run."""
    grading_status = api.current_round(grading_status_id, round_number)
    if grading_status is None:
        return "stale"
    course_run = grading_status.course_run
    with acting_as(f"task freeze_chunk {course_run.edx_course_key}"):
        frozen, failed = api.freeze_users(grading_status, user_ids)
    if api.finish_chunk(grading_status, round_number, index):
        freeze_course_run.delay(course_run.id)
    return {"frozen": frozen, "failed": failed}


@shared_task
def freeze_due_course_runs():
    """Periodic: start (or pick up) the freeze of every run whose freeze date has passed."""
    due = (
        CourseRun.objects.filter(freeze_grade_date__lte=timezone.now())
        .exclude(grading_status__status=CourseRunGradingStatus.COMPLETE)
        .values_list("id", flat=True)
    )
    for course_run_id in due:
        freeze_course_run.delay(course_run_id)
    return len(due)
