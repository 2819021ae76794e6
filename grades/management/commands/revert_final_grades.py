import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades import api
from grades.api import Refused
from grades.management.commands._course_run import add_course_key_argument, course_run_from_options


class Command(OperatorCommand):
    help = (
        "Revert the freeze of a course run: delete its final grades, its grading status and "
        "its failures, after archiving every row under a revert id (printed) that "
        "restore_final_grades puts back. Asks for confirmation unless given --yes; refused "
        "while the run's chunks still run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be deleted; write nothing"
        )
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        course_run = course_run_from_options(options)
        key = course_run.edx_course_key
        plan = api.revert_plan(course_run)
        would = (
            f"{plan.final_grades} final grades, {plan.statuses} grading status and "
            f"{plan.failures} failures of {key}"
        )
        if options["dry_run"]:
            self.stdout.write(f"Would revert {would} (dry run: nothing changed).")
            return
        if not options["yes"]:
            self.stdout.write(f"This reverts {would}. They are archived and can be restored.")
            self.stdout.write("Type yes to revert: ", ending="")
            self.stdout.flush()
            answer = sys.stdin.readline().strip()
            if answer != "yes":
                raise CommandError("Not confirmed: nothing was reverted.")
        try:
            done = api.revert_course_run(course_run)
        except Refused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            f"Reverted {done.final_grades} final grades, {done.statuses} grading status and "
            f"{done.failures} failures of {key}: revert id {done.revert_id} "
            f"(restore with: python manage.py restore_final_grades {done.revert_id})."
        )
