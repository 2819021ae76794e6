import contextlib
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades import api, tasks
from grades.api import Outcome, Refused
from grades.management.commands._course_run import (
    add_course_key_argument,
    chunk_progress,
    course_run_from_options,
)


class Command(OperatorCommand):
    help = (
        "Retry only the learners whose freeze failed in a course run, in a new round sent to "
        "the Celery workers (with no broker configured, in-process). Their failures are "
        "cleared first; a complete run goes back to pending and completes again when the "
        "round ends. Refused while the run's chunks still run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        course_run = course_run_from_options(options)
        key = course_run.edx_course_key
        in_process = tasks.freeze_chunk.app.conf.task_always_eager
        try:
            with chunk_progress(self.stdout) if in_process else contextlib.nullcontext():
                freeze_round = api.retry_failed(course_run, tasks.send_chunks)
        except Refused as refused:
            if refused.outcome == Outcome.NOTHING_FAILED:
                self.stdout.write(str(refused))
                return
            raise CommandError(str(refused)) from None
        learners = counted(sum(len(chunk) for chunk in freeze_round.chunks), "failed learner")
        if not in_process:
            chunks = counted(len(freeze_round.chunks), "chunk")
            self.stdout.write(
                f"Submitted a retry of {learners} of {key} in {chunks}: "
                "see check_final_grade_freeze_status."
            )
            return
        status = api.freeze_status(course_run)
        self.stdout.write(
            f"Retried {learners} of {key} in-process (no broker configured).\n"
            f"Freeze of {key}: {status.state}; {status.frozen} frozen, {status.failed} failed, "
            f"{status.left} left."
        )


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
