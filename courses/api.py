"""Looking up course runs the way operators name them: by their edX course key."""

from django.utils import timezone

from courses.models import CourseRun


class CourseRunError(Exception):
    """The course key names no course run, or one that cannot be frozen; says which."""


def course_run_by_key(edx_course_key):
    key = (edx_course_key or "").strip()
    if not key:
        raise CourseRunError("The edX course key is empty.")
    try:
        return CourseRun.objects.select_related("course").get(edx_course_key=key)
    except CourseRun.DoesNotExist:
        raise CourseRunError(f"No course run has the edX course key {key!r}.") from None


def check_freeze_date_passed(course_run, now=None):
    """Raise CourseRunError unless the run's freeze grade date is set and in the past."""
    if course_run.freeze_grade_date is None:
        raise CourseRunError(
            f"Course run {course_run.edx_course_key} has no freeze grade date: "
            "set one in the admin first."
        )
    now = now or timezone.now()
    if course_run.freeze_grade_date > now:
        raise CourseRunError(
            f"The freeze grade date of {course_run.edx_course_key} is "
            f"{course_run.freeze_grade_date:%Y-%m-%d %H:%M} UTC, still in the future."
        )
