"""Looking up course runs the way operators name them: by their edX course key."""

from datetime import datetime

from django.utils import timezone

from courses.models import CourseRun


class CourseRunError(Exception):
    """The course key names no course run, or one that cannot be frozen; says which."""


def check_course_key(edx_course_key: str | None) -> str:
    """The key without surrounding whitespace; CourseRunError if no course run could have it.

    Checked before any query: PostgreSQL refuses NUL bytes in text outright, and a
    key no run can have is better named than looked up.
    """
    key = (edx_course_key or "").strip()
    if not key:
        raise CourseRunError("The edX course key is empty.")
    max_length = CourseRun.EDX_COURSE_KEY_MAX_LENGTH
    if len(key) > max_length:
        raise CourseRunError(
            f"The edX course key is {len(key)} characters long; course keys have at most "
            f"{max_length}."
        )
    for position, character in enumerate(key, start=1):
        if not character.isprintable():
            raise CourseRunError(
                f"The edX course key {key!r} has a control or invisible character "
                f"(U+{ord(character):04X}) at position {position}."
            )
    return key


def course_run_by_key(edx_course_key: str | None) -> CourseRun:
    key = check_course_key(edx_course_key)
    try:
        return CourseRun.objects.select_related("course").get(edx_course_key=key)
    except CourseRun.DoesNotExist:
        pass
    message = f"No course run has the edX course key {key!r}."
    other_case = CourseRun.objects.filter(edx_course_key__iexact=key).first()
    if other_case is not None:
        message += f" Did you mean {other_case.edx_course_key!r}? Keys are case-sensitive."
    raise CourseRunError(message)


def check_freeze_date_passed(course_run: CourseRun, now: datetime | None = None) -> None:
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
