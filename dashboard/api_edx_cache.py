"""Refreshing the platform's cache of a learner's edX data with the learner's own token."""

import contextlib
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from edx_api.client import EdxApi
from social_core.exceptions import SocialAuthBaseException
from social_django.utils import load_strategy

from courses.models import CourseRun
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment

EDX_PROVIDER = "edxorg"

STAGE_TOKEN_REFRESH = "token_refresh"
STAGE_CACHE_REFRESH = "cache_refresh"


class EdxRefreshError(Exception):
    """The learner's edX data could not be refreshed; says at which stage and why."""

    def __init__(self, stage, reason, http_status=None):
        super().__init__(f"{stage}: {reason}" + (f" (HTTP {http_status})" if http_status else ""))
        self.stage = stage
        self.reason = reason
        self.http_status = http_status


@dataclass(frozen=True)
class GradeData:
    """What edX said about one learner in one course run; None where edX has nothing."""

    certificate: dict | None
    current_grade: dict | None


def _edx_link(user, lock=False):
    links = user.social_auth.filter(provider=EDX_PROVIDER)
    link = (links.select_for_update() if lock else links).first()
    if link is None:
        raise EdxRefreshError(STAGE_TOKEN_REFRESH, "no_edx_link")
    return link


def _token_expires_soon(link):
    issued = link.extra_data.get("auth_time")
    lifetime = link.extra_data.get("expires_in")
    if not issued or not lifetime:
        return True
    try:
        expires_at = int(issued) + int(lifetime)
    except (TypeError, ValueError):
        return True
    return expires_at - settings.EDX_TOKEN_REFRESH_MARGIN <= time.time()


def fresh_edx_link(user):
    """The learner's edX link, its access token refreshed with the refresh-token grant if due.

    edX rotates the refresh token on every use, so the row is locked while refreshing:
    two workers refreshing one learner at once would otherwise spend the same refresh
    token twice, and the second would fail. The new tokens are saved before returning.
    """
    link = _edx_link(user)
    if not _token_expires_soon(link):
        return link
    with transaction.atomic():
        link = _edx_link(user, lock=True)
        if _token_expires_soon(link):
            try:
                link.refresh_token(load_strategy())
            except SocialAuthBaseException as error:
                raise EdxRefreshError(
                    STAGE_TOKEN_REFRESH, error.code, getattr(error, "status_code", None)
                ) from error
    if not link.extra_data.get("access_token"):
        raise EdxRefreshError(STAGE_TOKEN_REFRESH, "no_access_token")
    return link


def edx_client(token):
    return EdxApi(
        {"access_token": token},
        base_url=settings.EDXORG_BASE_URL,
        timeout=settings.EDX_REQUEST_TIMEOUT,
    )


@contextlib.contextmanager
def edx_errors():
    """Turn what requests and edx-api-client raise into EdxRefreshError of the cache stage."""
    try:
        yield
    except requests.JSONDecodeError as error:  # a RequestException too: must come first
        raise EdxRefreshError(STAGE_CACHE_REFRESH, "malformed_response") from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        raise EdxRefreshError(STAGE_CACHE_REFRESH, "http_error", status) from error
    except requests.Timeout as error:
        raise EdxRefreshError(STAGE_CACHE_REFRESH, "timeout") from error
    except requests.RequestException as error:
        raise EdxRefreshError(STAGE_CACHE_REFRESH, "connection_error") from error
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise EdxRefreshError(STAGE_CACHE_REFRESH, "malformed_response") from error


def _fetch_or_none(fetch):
    """edX's JSON for one object, or None when edX answers 404."""
    try:
        with edx_errors():
            return fetch().json
    except EdxRefreshError as error:
        if error.http_status == 404:
            return None
        raise


def fetch_grade_data(edx, username, course_key):
    return GradeData(
        certificate=_fetch_or_none(
            lambda: edx.certificates.get_student_certificate(username, course_key)
        ),
        current_grade=_fetch_or_none(
            lambda: edx.current_grades.get_student_current_grade(username, course_key)
        ),
    )


def _store(model, user, course_run, data, now):
    if data is None:
        model.objects.filter(user=user, course_run=course_run).delete()
    else:
        model.objects.update_or_create(
            user=user, course_run=course_run, defaults={"data": data, "refreshed_on": now}
        )


def store_grade_data(user, course_run, grade_data, now):
    _store(CachedCertificate, user, course_run, grade_data.certificate, now)
    _store(CachedCurrentGrade, user, course_run, grade_data.current_grade, now)


def _fetch_enrollments(edx):
    """The learner's enrollments as edX's JSON, keyed by course key."""
    with edx_errors():
        enrollments = edx.enrollments.get_student_enrollments()
        return {
            key: enrollments.get_enrollment_for_course(key).json
            for key in enrollments.get_enrolled_course_ids()
        }


def _store_enrollments(user, course_runs, by_key, now):
    CachedEnrollment.objects.filter(user=user).exclude(course_run__in=course_runs).delete()
    for course_run in course_runs:
        CachedEnrollment.objects.update_or_create(
            user=user,
            course_run=course_run,
            defaults={"data": by_key[course_run.edx_course_key], "refreshed_on": now},
        )


def refresh_cached_data(user, course_runs=None):
    """Refresh the token, the enrollments, then the certificates and current grades of
    `course_runs` (default: every known run the learner is enrolled in).

    Everything is fetched first and written in one transaction, so the cache never
    mixes two refreshes and a fault leaves it as it was.
    """
    link = fresh_edx_link(user)
    edx = edx_client(link.extra_data["access_token"])
    enrollments = _fetch_enrollments(edx)
    enrolled_runs = list(CourseRun.objects.filter(edx_course_key__in=enrollments))
    if course_runs is None:
        course_runs = enrolled_runs
    fetched = [(run, fetch_grade_data(edx, link.uid, run.edx_course_key)) for run in course_runs]
    now = timezone.now()
    with transaction.atomic():
        _store_enrollments(user, enrolled_runs, enrollments, now)
        for course_run, grade_data in fetched:
            store_grade_data(user, course_run, grade_data, now)


class CachedEdxDataApi:
    """The runbook's name for refreshing a learner's cached edX data."""

    @staticmethod
    def update_all_cached_grade_data(user):
        """Refresh the token, enrollments, certificates and current grades of every
        course run the platform knows that the learner is enrolled in."""
        refresh_cached_data(user)
