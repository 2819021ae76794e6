from typing import Any

from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades import api
from grades.api import Outcome
from grades.management.commands._course_run import add_course_key_argument, course_run_from_options


class Command(OperatorCommand):
    help = (
        "Mark the freeze of a course run complete, learners left or not "
        "(it does not freeze them). Refused while its chunks still run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        course_run = course_run_from_options(options)
        key = course_run.edx_course_key
        outcome = api.complete_course_run_freeze(course_run)
        if outcome == Outcome.NOT_STARTED:
            raise CommandError(f"The freeze of {key} has not started: run freeze_final_grades.")
        if outcome == Outcome.IN_PROGRESS:
            raise CommandError(
                f"The freeze of {key} still has chunks running: wait, "
                "or see check_final_grade_freeze_status."
            )
        if outcome == Outcome.COMPLETE:
            self.stdout.write(f"The freeze of {key} was already complete; nothing changed.")
            return
        left = api.freeze_status(course_run).left
        self.stdout.write(f"Marked the freeze of {key} complete ({left} learners left unfrozen).")
