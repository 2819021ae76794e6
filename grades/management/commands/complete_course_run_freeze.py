from typing import Any

from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades import api
from grades.api import Outcome, Refused
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
        try:
            left = api.complete_by_hand(course_run)
        except Refused as refused:
            if refused.outcome == Outcome.COMPLETE:
                self.stdout.write(str(refused))
                return
            raise CommandError(str(refused)) from None
        self.stdout.write(f"Marked the freeze of {key} complete ({left} learners left unfrozen).")
