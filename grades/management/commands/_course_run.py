"""The course key argument every freeze command takes."""

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
