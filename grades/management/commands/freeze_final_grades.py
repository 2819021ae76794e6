from typing import Any

from django.core.management.base import CommandError, CommandParser

from courses.models import CourseRun
from gradefreeze.commands import OperatorCommand
from grades import api, selectors, tasks
from grades.api import Outcome, Refused
from grades.management.commands._course_run import (
    add_course_key_argument,
    chunk_progress,
    course_run_from_options,
)


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
        in_process = tasks.freeze_course_run.app.conf.task_always_eager
        try:
            api.start_freeze(course_run, self.freeze_in_process if in_process else self.submit)
        except Refused as refused:
            if refused.outcome == Outcome.IN_PROGRESS:
                self.stdout.write(str(refused))
                return
            raise CommandError(str(refused)) from None

    def submit(self, course_run: CourseRun) -> None:
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
