"""The platform's cache of what edX says about a learner, one row per course run.

Rows keep edX's JSON as it was returned, so a final grade can always be
traced back to the exact answer it was computed from.
"""

from django.conf import settings
from django.db import models

from courses.models import CourseRun


class CachedEdxData(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_run = models.ForeignKey(CourseRun, on_delete=models.CASCADE)
    data = models.JSONField()
    refreshed_on = models.DateTimeField()

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course_run"], name="%(class)s_unique_user_course_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.__class__.__name__} {self.user_id} {self.course_run_id}"


class CachedEnrollment(CachedEdxData):
    """An enrollment object of /api/enrollment/v1/enrollment."""


class CachedCertificate(CachedEdxData):
    """A certificate object of /api/certificates/v0/certificates/<user>/courses/<run>/."""


class CachedCurrentGrade(CachedEdxData):
    """A current grade object of /api/grades/v1/courses/<run>/?username=<user>."""


class LearnerRefresh(models.Model):
    """When a learner's enrollments were last read whole from edX (a sign-in, a periodic
    refresh, a seed): the freeze's population trusts the cache only that long
    (EDX_CACHE_MAX_AGE). Kept apart from the enrollments because a learner enrolled
    nowhere has none, and must not count as never read."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True
    )
    enrollments_refreshed_on = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"LearnerRefresh {self.user_id} {self.enrollments_refreshed_on:%Y-%m-%d %H:%M}"
