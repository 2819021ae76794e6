import sys
from typing import Any

from django.core.management.base import CommandParser

from gradefreeze.commands import OperatorCommand
from grades.api import FreezeState, FreezeStatus, freeze_status
from grades.management.commands._course_run import add_course_key_argument, course_run_from_options
from grades.rounds import heartbeat_timeout

EXIT_STATUS = {
    FreezeState.COMPLETE: 0,
    FreezeState.NOT_STARTED: 3,
    FreezeState.PROCESSING: 4,
    FreezeState.DONE_NOT_MARKED: 5,
    FreezeState.STALLED: 6,
}


def chunk_progress(status: FreezeStatus) -> str:
    """How many chunks of the round are done, running, waiting, and lost."""
    chunks = status.chunks
    parts = [f"{status.chunks_done} of {status.chunks_total} done"]
    if chunks.running:
        parts.append(f"{chunks.running} running")
    if chunks.not_started:
        parts.append(f"{chunks.not_started} not started")
    if chunks.silent:
        silent_for = int(heartbeat_timeout().total_seconds())
        parts.append(f"{chunks.silent} lost (no heartbeat for {silent_for} s: their worker died)")
    return ", ".join(parts)


class Command(OperatorCommand):
    help = (
        "Show how the freeze of a course run stands: frozen, failed (by reason) and left. "
        "Exit status: 0 complete, 1 bad input, 3 not started, 4 being processed, "
        "5 done but not marked complete, 6 stalled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        course_run = course_run_from_options(options)
        status = freeze_status(course_run)
        lines = [f"Course run {course_run.edx_course_key}: {status.state}"]
        if status.mode:
            lines.append(f"  mode:    {status.mode.replace('_', '-')}")
        if status.state in (FreezeState.PROCESSING, FreezeState.STALLED):
            lines.append(f"  chunks:  {chunk_progress(status)}")
        lines += [
            f"  frozen:  {status.frozen}",
            f"  failed:  {status.failed}",
        ]
        for (stage, reason, http_status), count in sorted(status.failures_by_reason.items()):
            http = f" (HTTP {http_status})" if http_status else ""
            lines.append(f"    {stage}: {reason}{http}: {count}")
        lines += [f"  left:    {status.left}", f"  needed:  {status.needed}"]
        if status.state in (FreezeState.DONE_NOT_MARKED, FreezeState.STALLED):
            lines.append("Run freeze_final_grades again to go on and complete it.")
        self.stdout.write("\n".join(lines))
        sys.stdout.flush()
        sys.exit(EXIT_STATUS[status.state])
