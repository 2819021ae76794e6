import json
import sys
import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from courses.models import CourseRun
from gradefreeze.commands import OperatorCommand
from grades.api import FreezeState, FreezeStatus, freeze_status
from grades.management.commands._course_run import add_course_key_argument, course_run_from_options
from grades.rounds import heartbeat_timeout
from grades.selectors import status_document

EXIT_STATUS = {
    FreezeState.COMPLETE: 0,
    FreezeState.NOT_STARTED: 3,
    FreezeState.PROCESSING: 4,
    FreezeState.DONE_NOT_MARKED: 5,
    FreezeState.STALLED: 6,
}
BAR_WIDTH = 40
# A run whose last chunk has finished is "done but not marked" until its orchestrator task
# marks it complete a moment later: --watch stops there only once it lasts.
DONE_POLLS = 3


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
        shown = parser.add_mutually_exclusive_group()
        shown.add_argument(
            "--json", action="store_true", help="print the same facts as one JSON object"
        )
        shown.add_argument(
            "--watch",
            action="store_true",
            help="redraw a progress bar until the run is complete or stalled (or Ctrl-C), "
            "then exit with that state's status",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="with --watch, seconds between two reads of the status (0.1 to 60, default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0.1 <= options["interval"] <= 60:
            raise CommandError("--interval must be between 0.1 and 60 seconds.")
        course_run = course_run_from_options(options)
        if options["watch"]:
            status = self.watch(course_run, options["interval"])
        else:
            status = freeze_status(course_run)
            if options["json"]:
                self.stdout.write(json.dumps(status_document(course_run, status)))
            else:
                self.stdout.write(text(course_run, status))
        sys.stdout.flush()
        sys.exit(EXIT_STATUS[status.state])

    def watch(self, course_run: CourseRun, interval: float) -> FreezeStatus:
        """Redraw the bar in place on a terminal, a line per change elsewhere."""
        terminal = self.stdout.isatty()
        status, last, done_polls = freeze_status(course_run), "", 0
        try:
            while True:
                line = f"{course_run.edx_course_key}: {bar(status)}"
                if terminal:
                    self.stdout.write("\r\033[K" + line, ending="")
                    self.stdout.flush()
                elif line != last:
                    self.stdout.write(line)
                last = line
                done_polls = done_polls + 1 if status.state == FreezeState.DONE_NOT_MARKED else 0
                if status.state in (FreezeState.COMPLETE, FreezeState.STALLED):
                    break
                if done_polls >= DONE_POLLS:
                    break
                time.sleep(interval)
                status = freeze_status(course_run)
        except KeyboardInterrupt:
            status = freeze_status(course_run)
        if terminal:
            self.stdout.write("")
        self.stdout.write(text(course_run, status))
        return status


def bar(status: FreezeStatus) -> str:
    """[###xx....] frozen (#), failed (x), left (.) of needed."""
    needed = max(status.needed, 1)
    frozen = round(BAR_WIDTH * status.frozen / needed)
    failed = min(round(BAR_WIDTH * status.failed / needed), BAR_WIDTH - frozen)
    cells = "#" * frozen + "x" * failed + "." * (BAR_WIDTH - frozen - failed)
    done = 100 * (status.frozen + status.failed) // needed
    return (
        f"[{cells}] {done:3d}%  {status.frozen} frozen, {status.failed} failed, "
        f"{status.left} left of {status.needed}: {status.state}"
    )


def text(course_run: CourseRun, status: FreezeStatus) -> str:
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
    return "\n".join(lines)
