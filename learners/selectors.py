"""What a learner's own pages show: their course runs, final grades, and their edX link."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.utils import timezone
from social_django.models import UserSocialAuth

from courses.models import CourseRun
from dashboard.api import EDX_PROVIDER
from dashboard.models import CachedEnrollment
from grades.api import refused_token_failures
from grades.models import FinalGrade


@dataclass(frozen=True)
class MyCourseRun:
    """One course run of the learner: its final grade once frozen, else None."""

    course_run: CourseRun
    final_grade: FinalGrade | None

    @property
    def freeze_date_passed(self) -> bool:
        freeze_date = self.course_run.freeze_grade_date
        return freeze_date is not None and freeze_date <= timezone.now()

    @property
    def percent(self) -> str:
        return f"{self.final_grade.grade * 100:.1f}%" if self.final_grade else ""


def my_course_runs(user: User) -> list[MyCourseRun]:
    """The runs the learner is enrolled in (as edX said last) or has a final grade in,
    by freeze date, with their final grade."""
    grades = {
        grade.course_run_id: grade
        for grade in FinalGrade.objects.filter(user=user).select_related("course_run")
    }
    enrolled = CachedEnrollment.objects.filter(user=user, data__is_active=True).values_list(
        "course_run_id", flat=True
    )
    runs = CourseRun.objects.filter(pk__in=[*grades, *enrolled])
    runs = runs.select_related("course").order_by("freeze_grade_date", "edx_course_key")
    return [MyCourseRun(run, grades.get(run.pk)) for run in runs]


def edx_refused_tokens(user: User) -> bool:
    """edX refused the learner's tokens (a freeze failed them so) since they last signed in."""
    link = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user=user).first()
    failures = refused_token_failures(user)
    if link is not None and isinstance(link.extra_data, dict):
        try:
            signed_in = datetime.fromtimestamp(int(link.extra_data["auth_time"]), tz=UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            return failures.exists()
        failures = failures.filter(failed_on__gt=signed_in)
    return failures.exists()
