"""The course key argument every freeze command takes, and the progress of in-process chunks."""

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

from courses.api import CourseRunError, course_run_by_key
from courses.models import CourseRun
from grades.signals import chunk_finished


def add_course_key_argument(parser: Any) -> None:
    parser.add_argument(
        "edx_course_key",
        help="the edX course key of the run, e.g. course-v1:MITx+Analog+Learning+200+Jan_2015",
    )


def course_run_from_options(options: dict) -> CourseRun:
    try:
        return course_run_by_key(options["edx_course_key"])
    except CourseRunError as error:
        raise CommandError(str(error)) from None


@contextlib.contextmanager
def chunk_progress(stdout: OutputWrapper) -> Iterator[None]:
    """No broker: the chunks run inside the command, so show their progress as they finish."""

    def show(grading_status: Any, **kwargs: Any) -> None:
        done, total = grading_status.chunks_done, grading_status.chunks_total
        progress = f"{done} of {total}" if grading_status.listed else f"{done} of {total} so far"
        stdout.write(f"  {grading_status.course_run.edx_course_key}: {progress} chunks done")

    chunk_finished.connect(show, weak=False)
    try:
        yield
    finally:
        chunk_finished.disconnect(show)
