"""What the platform knows of one learner's edX side, for an operator diagnosing them.

Read-only: the edX link and its tokens' state (never the tokens), the cached records of
a run with when they were read, and, asked for, what edX answers now.
"""

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import User
from social_django.models import UserSocialAuth

from courses.models import CourseRun
from dashboard.edx_tokens import TokenDecryptionError
from dashboard.failures import EdxRefreshError
from dashboard.learner_reader import read_learners
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEdxData, CachedEnrollment
from dashboard.records import EdxJson, LearnerRead
from dashboard.token_refresh import EDX_PROVIDER


@dataclass(frozen=True)
class EdxLinkState:
    """A learner's edX link as far as an operator may see it: no token value."""

    linked: bool
    edx_username: str = ""
    has_access_token: bool = False
    has_refresh_token: bool = False
    expires_at: datetime | None = None
    unreadable: str = ""  # why the tokens cannot be read, if they cannot

    @property
    def expired(self) -> bool:
        return self.expires_at is None or self.expires_at <= datetime.now(UTC)


def edx_link_state(user: User) -> EdxLinkState:
    try:
        link = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user=user).first()
    except TokenDecryptionError as error:
        uid = (
            UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user=user)
            .values_list("uid", flat=True)
            .first()
        )
        return EdxLinkState(linked=True, edx_username=uid or "", unreadable=str(error))
    if link is None:
        return EdxLinkState(linked=False)
    extra = link.extra_data if isinstance(link.extra_data, dict) else {}
    expires_at = None
    with contextlib.suppress(KeyError, TypeError, ValueError, OverflowError):
        expires_at = datetime.fromtimestamp(
            int(extra["auth_time"]) + int(extra["expires_in"]), tz=UTC
        )
    return EdxLinkState(
        linked=True,
        edx_username=link.uid,
        has_access_token=bool(extra.get("access_token")),
        has_refresh_token=bool(extra.get("refresh_token")),
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class CachedRecord:
    data: EdxJson
    refreshed_on: datetime


def cached_records(user: User, course_run: CourseRun) -> dict[str, CachedRecord | None]:
    """The cache's enrollment, certificate and current grade of the learner in the run."""
    models: dict[str, type[CachedEdxData]] = {
        "enrollment": CachedEnrollment,
        "certificate": CachedCertificate,
        "current_grade": CachedCurrentGrade,
    }
    records: dict[str, CachedRecord | None] = {}
    for name, model in models.items():
        row = model._default_manager.filter(user=user, course_run=course_run).first()
        records[name] = CachedRecord(row.data, row.refreshed_on) if row else None
    return records


def read_live(user: User, course_run: CourseRun) -> LearnerRead | EdxRefreshError:
    """What edX answers now for the learner in the run, cached nowhere. The token is
    refreshed first if due, and the new pair saved: edX rotates it on every refresh."""
    read = read_learners([user], [course_run])
    return read.errors.get(user.pk) or read.reads[user.pk]
