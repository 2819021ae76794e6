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
    Bound("FREEZE_HEARTBEAT_SECONDS", 1, "seconds between two heartbeats of a running chunk"),
    Bound("FREEZE_MAX_DELIVERIES", 1, "deliveries of a chunk before it is given up"),
    Bound("FREEZE_SCHEDULE_SECONDS", 1, "seconds between two looks for due and stalled freezes"),
    Bound("CELERY_TASK_SOFT_TIME_LIMIT", 1, "seconds a task runs before it is interrupted"),
    Bound("CELERY_TASK_TIME_LIMIT", 1, "seconds a task runs before its process is killed"),
    Bound("EDX_RETRIES", 0, "retries of a failed LMS request"),
    Bound("EDX_RETRY_BACKOFF", 0, "seconds of backoff between retries"),
    Bound("EDX_THROTTLE_PATIENCE", 0, "seconds a throttled LMS request is tried again"),
    Bound("EDX_REQUEST_TIMEOUT", 0.001, "seconds to wait for an LMS answer"),
    Bound("EDX_TOKEN_REFRESH_MARGIN", 0, "seconds before expiry a token is refreshed"),
    Bound("SECURE_HSTS_SECONDS", 0, "seconds of HSTS"),
    Bound("EDX_CACHE_MAX_AGE", 1, "seconds a learner's cached edX enrollments are trusted"),
    Bound("EDX_CACHE_REFRESH_SECONDS", 1, "seconds between two refreshes of stale edX caches"),
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
    errors += _check_time_limits()
    errors += _check_rate_limits()
    conn_max_age = settings.DATABASES["default"].get("CONN_MAX_AGE")
    if conn_max_age is not None and conn_max_age < 0:
        errors.append(
            Error(
                f"DATABASE_CONN_MAX_AGE={conn_max_age!r} is out of range: at least 0.",
                id="gradefreeze.E001",
            )
        )
    return errors


def _check_time_limits() -> list[CheckMessage]:
    """The soft limit comes first, so that a chunk can clean up before the hard one; the
    hard one ends before Redis hands the message of a task still running to another worker."""
    soft, hard = settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    errors: list[CheckMessage] = []
    if soft >= hard:
        errors.append(
            Error(
                f"CELERY_TASK_SOFT_TIME_LIMIT={soft!r} is out of range: it must be below "
                f"CELERY_TASK_TIME_LIMIT={hard!r}, so that a chunk is interrupted and "
                "delivered again before its process is killed.",
                id="gradefreeze.E001",
            )
        )
    if hard >= visibility:
        errors.append(
            Error(
                f"CELERY_TASK_TIME_LIMIT={hard!r} is out of range: it must be below the "
                f"broker's visibility timeout ({visibility} s), or a chunk still running "
                "would be delivered to a second worker.",
                id="gradefreeze.E001",
            )
        )
    return errors


def _check_rate_limits() -> list[CheckMessage]:
    """A rate of 0 requests, or per 0 seconds, would stop every read of that endpoint."""
    errors: list[CheckMessage] = []
    for endpoint, rate in settings.EDX_RATE_LIMITS.items():
        if rate is not None and (rate.requests < 1 or rate.seconds < 1):
            errors.append(
                Error(
                    f"EDX_RATE_LIMITS: {endpoint}={rate.requests}/{rate.seconds}s is out of "
                    "range: at least 1 request per at least 1 second.",
                    hint=f"Set {endpoint}=N/minute with N at least 1, or {endpoint}=off "
                    "when the LMS does not limit it.",
                    id="gradefreeze.E001",
                )
            )
    return errors
