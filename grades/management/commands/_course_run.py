"""The course key argument every freeze command takes, and the progress of in-process chunks."""

import contextlib
import logging

from django.core.management.base import CommandError

from courses.api import CourseRunError, course_run_by_key


def add_course_key_argument(parser):
    parser.add_argument(
        "edx_course_key",
        help="the edX course key of the run, e.g. course-v1:MITx+Analog+Learning+200+Jan_2015",
    )


def course_run_from_options(options):
    try:
        return course_run_by_key(options["edx_course_key"])
    except CourseRunError as error:
        raise CommandError(str(error)) from None


@contextlib.contextmanager
def chunk_progress(stdout):
    """No broker: the chunks run inside the command, so show their progress as they finish."""
    progress = logging.StreamHandler(stdout)
    progress.setFormatter(logging.Formatter("  %(message)s"))
    logger = logging.getLogger("grades.api")
    logger.addHandler(progress)
    previous = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(progress)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]
