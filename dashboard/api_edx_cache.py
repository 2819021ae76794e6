"""The runbook's entry point for refreshing a learner's cached edX data."""

from django.contrib.auth.models import User

from dashboard.api import refresh_cached_data


class CachedEdxDataApi:
    """The runbook's name for refreshing a learner's cached edX data."""

    @staticmethod
    def update_all_cached_grade_data(user: User) -> None:
        """Refresh the token, enrollments, certificates and current grades of every
        course run the platform knows that the learner is enrolled in."""
        refresh_cached_data(user)
