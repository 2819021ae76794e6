"""System checks of the settings' ranges: a value that parses but cannot work.

`manage.py check` (and so `migrate`, `runserver`, the test run) and every Celery
worker and beat at start-up run them, so FREEZE_CHUNK_SIZE=0 is refused before any
chunk is cut.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

TAG = "gradefreeze_settings"


@dataclass(frozen=True)
class Bound:
    setting: str
    minimum: float
    meaning: str


BOUNDS = (
    Bound("FREEZE_CHUNK_SIZE", 1, "learners per per-learner chunk"),
    Bound("FREEZE_LEARNER_CONCURRENCY", 1, "learners read at once per chunk"),
    Bound("FREEZE_PAGE_SIZE", 1, "learners per page of the course-wide listing"),
    Bound("FREEZE_PAGE_CONCURRENCY", 1, "LMS requests in flight per course-wide page"),
    Bound("FREEZE_STALL_SECONDS", 1, "seconds without progress before a round is stalled"),
    Bound("FREEZE_SCHEDULE_SECONDS", 1, "seconds between two starts of due freezes"),
    Bound("EDX_RETRIES", 0, "retries of a failed LMS request"),
    Bound("EDX_RETRY_BACKOFF", 0, "seconds of backoff between retries"),
    Bound("EDX_REQUEST_TIMEOUT", 0.001, "seconds to wait for an LMS answer"),
    Bound("EDX_TOKEN_REFRESH_MARGIN", 0, "seconds before expiry a token is refreshed"),
    Bound("SECURE_HSTS_SECONDS", 0, "seconds of HSTS"),
)


@register(TAG)
def check_setting_ranges(app_configs, **kwargs) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for bound in BOUNDS:
        value = getattr(settings, bound.setting)
        if value < bound.minimum:
            errors.append(
                Error(
                    f"{bound.setting}={value!r} is out of range: it is the {bound.meaning}, "
                    f"at least {bound.minimum:g}.",
                    hint=f"Set the environment variable {bound.setting} to {bound.minimum:g} "
                    "or more, or leave it unset for the default.",
                    id="gradefreeze.E001",
                )
            )
    conn_max_age = settings.DATABASES["default"].get("CONN_MAX_AGE")
    if conn_max_age is not None and conn_max_age < 0:
        errors.append(
            Error(
                f"DATABASE_CONN_MAX_AGE={conn_max_age!r} is out of range: at least 0.",
                id="gradefreeze.E001",
            )
        )
    return errors
