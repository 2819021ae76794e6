from typing import Any

from django.core.management.base import CommandError, CommandParser

from courses.api import CourseRunError, check_freeze_date_passed
from courses.models import CourseRun
from gradefreeze.commands import OperatorCommand
from grades import api, rounds, selectors, tasks
from grades.management.commands._course_run import (
    add_course_key_argument,
    chunk_progress,
    course_run_from_options,
)
from grades.models import CourseRunGradingStatus


class Command(OperatorCommand):
    help = (
        "Freeze the final grades of a course run whose freeze grade date has passed: submits "
        "an async task to the Celery workers (with no broker configured, freezes in-process). "
        "Run it again to go on with a run that is pending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        course_run = course_run_from_options(options)
        try:
            check_freeze_date_passed(course_run)
        except CourseRunError as error:
            raise CommandError(str(error)) from None
        grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
        if grading_status is not None and grading_status.is_complete:
            raise CommandError(
                f"Final grades of {course_run.edx_course_key} are already frozen "
                f"(complete since {grading_status.completed_on:%Y-%m-%d %H:%M} UTC)."
            )
        if grading_status is not None and rounds.chunks_in_flight(grading_status):
            self.stdout.write(
                f"The freeze of {course_run.edx_course_key} is already being processed "
                f"({grading_status.chunks_done} of {grading_status.chunks_total} chunks done): "
                "see check_final_grade_freeze_status."
            )
            return
        if tasks.freeze_course_run.app.conf.task_always_eager:
            self.freeze_in_process(course_run)
        else:
            result = tasks.freeze_course_run.delay(course_run.id)
            self.stdout.write(
                f"Submitted the freeze of {course_run.edx_course_key} as async task {result.id}."
            )

    def freeze_in_process(self, course_run: CourseRun) -> None:
        """No broker: the chunks run here, so show their progress as they finish."""
        mode = selectors.freeze_mode_of(course_run).replace("_", "-")
        self.stdout.write(
            f"Freezing {course_run.edx_course_key} in-process (no broker configured), {mode}."
        )
        with chunk_progress(self.stdout):
            tasks.freeze_course_run.delay(course_run.id)
        status = api.freeze_status(course_run)
        self.stdout.write(
            f"Freeze of {course_run.edx_course_key}: {status.state}; {status.frozen} frozen, "
            f"{status.failed} failed, {status.left} left."
        )
