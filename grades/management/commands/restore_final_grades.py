from typing import Any

from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades import api
from grades.api import Refused
from grades.models import ArchivedFinalGrade, FinalGradeRevert

# A revert id is a database id: a bigint.
MAX_REVERT_ID = 2**63 - 1


class Command(OperatorCommand):
    help = (
        "Restore what a revert deleted (its id is printed by revert_final_grades and listed "
        "in the audit): the final grades exactly as they were, each audited as restored, and "
        "the run's grading status and failures if the run has none since. Refused if it was "
        "restored already or a learner has been frozen again since."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("revert_id", type=int, help="the id of the revert to restore")

    def handle(self, *args: Any, **options: Any) -> None:
        revert_id = options["revert_id"]
        if not 1 <= revert_id <= MAX_REVERT_ID:
            raise CommandError(f"No revert has the id {revert_id}.")
        revert = FinalGradeRevert.objects.filter(pk=revert_id).first()
        if revert is None:
            raise CommandError(f"No revert has the id {revert_id}.")
        count = ArchivedFinalGrade.objects.filter(revert=revert).count()
        try:
            course_runs = api.restore_revert(revert)
        except Refused as refused:
            raise CommandError(str(refused)) from None
        keys = ", ".join(course_run.edx_course_key for course_run in course_runs)
        self.stdout.write(f"Restored revert {revert_id}: {count} final grades of {keys}.")
