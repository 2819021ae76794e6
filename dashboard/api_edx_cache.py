"""Reading what edX says about learners, and keeping it in the platform's cache.

Two ways to read, one way to store:
- per learner, with each learner's own token (refreshed first), for any platform;
- course-wide, with a staff client's token: a run's grades by pages, its enrollments
  by batches of usernames, and certificates only for learners who can hold one.
Either way the network is read first, many requests in flight at once, and what was
read is written set-based in one transaction, so the cache never mixes two reads and
a fault leaves it as it was.
"""

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field

import requests
import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from social_core.exceptions import SocialAuthBaseException
from social_core.storage import UserMixin
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from courses.models import CourseRun
from dashboard.edx_tokens import encrypted_tokens
from dashboard.lms_client import StaffTokenError, concurrently, edx_client, staff_reader
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment
from gradefreeze.bulk_writes import insert_rows

log = logging.getLogger(__name__)

EDX_PROVIDER = "edxorg"

STAGE_TOKEN_REFRESH = "token_refresh"
STAGE_CACHE_REFRESH = "cache_refresh"
STAGE_UNEXPECTED = "unexpected"

# edX gives no certificate to audit learners (only audit_passing/audit_notpassing).
NO_CERTIFICATE_MODES = frozenset({"audit"})
# The enrollments listing takes at most this many usernames (and answers 100 a page).
USERNAMES_PER_REQUEST = 100


class EdxRefreshError(Exception):
    """The learner's edX data could not be refreshed; says at which stage and why."""

    def __init__(self, stage, reason, http_status=None):
        super().__init__(f"{stage}: {reason}" + (f" (HTTP {http_status})" if http_status else ""))
        self.stage = stage
        self.reason = reason
        self.http_status = http_status


# A certificate the course-wide read did not ask for: the cache keeps what it had.
UNREAD = object()


@dataclass(frozen=True)
class GradeData:
    """What edX said about one learner in one course run; None where edX has nothing."""

    certificate: dict | None
    current_grade: dict | None


@dataclass
class LearnerRead:
    """What edX said about one learner: enrollments and grade data by course run id.

    `all_enrollments` says the enrollments are every one the learner has (a per-learner
    read), so cached enrollments of other runs are gone; a course-wide read covers only
    the runs it read.
    """

    user_id: int
    enrollments: dict = field(default_factory=dict)
    grades: dict = field(default_factory=dict)
    all_enrollments: bool = True


@contextlib.contextmanager
def edx_errors(stage=STAGE_CACHE_REFRESH):
    """Turn what requests and edx-api-client raise into EdxRefreshError of `stage`."""
    try:
        yield
    except requests.JSONDecodeError as error:  # a RequestException too: must come first
        raise EdxRefreshError(stage, "malformed_response") from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        raise EdxRefreshError(stage, "http_error", status) from error
    except requests.Timeout as error:
        raise EdxRefreshError(stage, "timeout") from error
    except requests.RequestException as error:
        raise EdxRefreshError(stage, "connection_error") from error
    except urllib3.exceptions.MaxRetryError as error:  # the staff reader's, retries spent
        timed_out = isinstance(error.reason, urllib3.exceptions.TimeoutError)
        raise EdxRefreshError(stage, "timeout" if timed_out else "connection_error") from error
    except urllib3.exceptions.TimeoutError as error:
        raise EdxRefreshError(stage, "timeout") from error
    except urllib3.exceptions.HTTPError as error:
        raise EdxRefreshError(stage, "connection_error") from error
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise EdxRefreshError(stage, "malformed_response") from error


def learner_error(error, stage=STAGE_CACHE_REFRESH):
    """An exception raised while reading one learner, as the failure recorded for them.

    LMS faults become EdxRefreshError of `stage`; anything else is a bug, logged at
    ERROR level (which Sentry reports) and recorded as unexpected, so that one
    learner's bug does not stop the others.
    """
    if isinstance(error, EdxRefreshError):
        return error
    try:
        with edx_errors(stage):
            raise error
    except EdxRefreshError as refresh_error:
        return refresh_error
    except Exception:
        log.error("unexpected error reading a learner from edX", exc_info=error)
        return EdxRefreshError(STAGE_UNEXPECTED, type(error).__name__)


# Tokens


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


def edx_links(users):
    """{user id: the learner's edX link} for those of `users` who have one."""
    links = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user__in=users)
    return {link.user_id: link for link in links}


def refresh_tokens(links, then=None):
    """Refresh the access tokens of `links` that are due, many at once; returns the
    links as saved, {user id: EdxRefreshError} for those that could not be, and what
    `then` gave.

    edX rotates the refresh token on every use, so the due rows stay locked from before
    the grant until the new tokens are saved: two workers refreshing one learner at once
    would otherwise spend the same refresh token twice, and the second would fail. The
    grants are social-core's (backend `edxorg`); only the saving happens here, in this
    thread, because the lock belongs to this thread's transaction.

    With `then`, each learner's `then(link)` (their reads) runs in the thread that made
    their token fresh, right after the grant, so that a chunk's grants and reads overlap
    instead of following each other: {user id: its result or the exception it raised}.
    """
    errors, outcomes = {}, {}
    fresh = dict(links)
    due = [link.pk for link in links.values() if _token_expires_soon(link)]
    if then is not None:
        ready = [link for link in links.values() if link.pk not in due]
        for link, outcome in concurrently(then, ready, settings.FREEZE_LEARNER_CONCURRENCY):
            outcomes[link.user_id] = outcome
    strategy = load_strategy()
    # A batch of as many as are in flight at once, committed before the next: the
    # rotated pairs of a transaction that never commits (its worker killed, the
    # database restarted) are lost for good, and so are those learners' grants.
    size = max(settings.FREEZE_LEARNER_CONCURRENCY, 1)
    for start in range(0, len(due), size):
        _refresh_batch(due[start : start + size], strategy, fresh, errors, then, outcomes)
    for user_id, link in fresh.items():
        if user_id not in errors and not link.extra_data.get("access_token"):
            errors[user_id] = EdxRefreshError(STAGE_TOKEN_REFRESH, "no_access_token")
    return fresh, errors, outcomes


def _refresh_batch(due, strategy, fresh, errors, then, outcomes):
    with transaction.atomic():
        locked = UserSocialAuth.objects.select_for_update().select_related("user")
        rows = list(locked.filter(pk__in=due))
        fresh.update((link.user_id, link) for link in rows)
        todo = [link for link in rows if _token_expires_soon(link)]
        if then is not None:
            for link in rows:
                if link not in todo:  # refreshed by another worker meanwhile
                    outcomes[link.user_id] = _outcome(then, link)
        backend = todo[0].get_backend_instance(strategy) if todo else None

        def grant(link):
            token = backend.get_refresh_token(link.extra_data)
            if not token:
                raise EdxRefreshError(STAGE_TOKEN_REFRESH, "reauthentication_required")
            answer = backend.refresh_token(
                token, **backend.get_refresh_token_kwargs(link.extra_data)
            )
            extra = backend.extra_data(link.user, link.uid, answer, link.extra_data or {}, {})
            # social-core's merge of the new token fields, without social_django's save:
            # the batch is saved by the thread that holds its lock.
            changed = UserMixin.set_extra_data(link, extra)
            return changed, None if then is None else _outcome(then, link)

        granted = []
        for link, answer in concurrently(grant, todo, settings.FREEZE_LEARNER_CONCURRENCY):
            if isinstance(answer, SocialAuthBaseException):
                code = getattr(answer, "code", None) or type(answer).__name__
                error = EdxRefreshError(
                    STAGE_TOKEN_REFRESH, code, getattr(answer, "status_code", None)
                )
                error.__cause__ = answer  # what social-core said, for whoever debugs it
                errors[link.user_id] = error
            elif isinstance(answer, Exception):
                errors[link.user_id] = learner_error(answer, STAGE_TOKEN_REFRESH)
            else:
                changed, outcomes[link.user_id] = answer
                if changed:
                    granted.append(link)
        _save_tokens(granted)


def _outcome(function, link):
    try:
        return function(link)
    except Exception as error:  # the caller decides, learner by learner
        return error


def _save_tokens(links):
    """Save the links' new tokens in one UPDATE, encrypted as a save would encrypt them
    (bulk_update skips the save signals); the links keep their plaintext."""
    plaintext = [link.extra_data for link in links]
    now = timezone.now()
    for link in links:
        link.extra_data = encrypted_tokens(link.extra_data)
        link.modified = now
    try:
        UserSocialAuth.objects.bulk_update(links, ["extra_data", "modified"])
    finally:
        for link, extra_data in zip(links, plaintext, strict=True):
            link.extra_data = extra_data


# Reading, per learner


def _fetch_or_none(fetch):
    """edX's JSON for one object, or None when edX answers 404."""
    try:
        with edx_errors():
            return fetch().json
    except EdxRefreshError as error:
        if error.http_status == 404:
            return None
        raise


def fetch_certificate(edx, username, course_key):
    return _fetch_or_none(lambda: edx.certificates.get_student_certificate(username, course_key))


def fetch_grade_data(edx, username, course_key):
    return GradeData(
        certificate=fetch_certificate(edx, username, course_key),
        current_grade=_fetch_or_none(
            lambda: edx.current_grades.get_student_current_grade(username, course_key)
        ),
    )


def _fetch_enrollments(edx):
    """The learner's enrollments as edX's JSON, keyed by course key."""
    with edx_errors():
        enrollments = edx.enrollments.get_student_enrollments()
        return {
            key: enrollments.get_enrollment_for_course(key).json
            for key in enrollments.get_enrolled_course_ids()
        }


def read_learners(users, course_runs=None):
    """Read each learner's enrollments, then the certificates and current grades of
    `course_runs` (default: every known run the learner is enrolled in), with up to
    FREEZE_LEARNER_CONCURRENCY learners in flight; nothing is cached yet.

    Returns ({user id: LearnerRead}, {user id: EdxRefreshError}).
    """
    links = edx_links(users)
    errors = {
        user.pk: EdxRefreshError(STAGE_TOKEN_REFRESH, "no_edx_link")
        for user in users
        if user.pk not in links
    }
    known_runs = {run.edx_course_key: run for run in CourseRun.objects.all()}

    def read(link):
        edx = edx_client(link.extra_data["access_token"])
        enrollments = _fetch_enrollments(edx)
        enrolled = [known_runs[key] for key in enrollments if key in known_runs]
        runs = enrolled if course_runs is None else course_runs
        return check_storable(
            LearnerRead(
                user_id=link.user_id,
                enrollments={run.pk: enrollments[run.edx_course_key] for run in enrolled},
                grades={
                    run.pk: fetch_grade_data(edx, link.uid, run.edx_course_key) for run in runs
                },
            )
        )

    _, token_errors, outcomes = refresh_tokens(links, then=read)
    errors.update(token_errors)
    reads = {}
    for user_id, answer in outcomes.items():
        if user_id in errors:
            continue
        if isinstance(answer, Exception):
            errors[user_id] = learner_error(answer)
        else:
            reads[user_id] = answer
    return reads, errors


# Reading, course-wide


def staff_json(path_or_url, fields=None, missing_ok=False):
    """edX's JSON answer to a GET with the staff token; None for a 404 if `missing_ok`."""
    with edx_errors():
        try:
            response = staff_reader().get(path_or_url, fields)
        except StaffTokenError as error:
            raise EdxRefreshError(STAGE_TOKEN_REFRESH, str(error)) from None
        if missing_ok and response.status == 404:
            return None
        if response.status >= 400:
            raise EdxRefreshError(STAGE_CACHE_REFRESH, "http_error", response.status)
        return json.loads(response.data)


def course_grade_pages(course_run, page_size):
    """The run's current grades as edX lists them, page by page, following `next`.

    edX pages this listing with a cursor, so pages come one after the other; the
    caller works on each page while the next one is read.
    """
    url = f"api/grades/v1/courses/{course_run.edx_course_key}/"
    fields = {"page_size": page_size}
    while url:
        with edx_errors():
            page = staff_json(url, fields)
            results, url, fields = page["results"], page.get("next"), None
            if not isinstance(results, list):
                raise TypeError("results is not a list")
        yield results


def _enrollments_of(course_key, usernames):
    """The enrollments in the run of these learners, as the staff listing gives them."""
    url, fields, found = (
        "api/enrollment/v1/enrollments",
        {
            "course_id": course_key,
            "username": ",".join(usernames),
        },
        [],
    )
    while url:
        with edx_errors():
            page = staff_json(url, fields)
            found += page["results"]
            url, fields = page.get("next"), None
    return found


def read_course_page(course_run, usernames):
    """Read what the run's staff view says of these learners (username -> user id):
    their enrollments in the run, in batches of usernames, then the certificates of
    those who can hold one (actively enrolled, not in audit mode), with up to
    FREEZE_PAGE_CONCURRENCY requests in flight.

    Returns ({username: enrollment JSON or None}, {username: certificate or None},
    {username: EdxRefreshError}).
    """
    key = course_run.edx_course_key
    concurrency = settings.FREEZE_PAGE_CONCURRENCY
    names = sorted(usernames)
    batches = [
        names[i : i + USERNAMES_PER_REQUEST] for i in range(0, len(names), USERNAMES_PER_REQUEST)
    ]
    errors, enrollments, certificates = {}, dict.fromkeys(names), {}
    for batch, answer in concurrently(
        lambda batch: _enrollments_of(key, batch), batches, concurrency
    ):
        if isinstance(answer, Exception):
            errors.update(dict.fromkeys(batch, learner_error(answer)))
            continue
        for enrollment in answer:
            if isinstance(enrollment, dict) and enrollment.get("user") in enrollments:
                enrollments[enrollment["user"]] = enrollment
    if not course_run.has_exam:
        can_hold = [
            name
            for name in names
            if name not in errors
            and enrollments[name] is not None
            and enrollments[name].get("is_active") is True
            and enrollments[name].get("mode") not in NO_CERTIFICATE_MODES
        ]
        certificates = dict.fromkeys(can_hold)

        def fetch(name):
            path = f"api/certificates/v0/certificates/{name}/courses/{key}/"
            certificate = staff_json(path, missing_ok=True)
            if certificate is not None and not isinstance(certificate, dict):
                raise TypeError("a certificate is not an object")
            return certificate

        for name, answer in concurrently(fetch, can_hold, concurrency):
            if isinstance(answer, Exception):
                errors[name] = learner_error(answer)
            else:
                certificates[name] = answer
    return enrollments, certificates, errors


# Storing


def check_storable(read):
    """The read, if the database can store it; else a malformed answer of that learner.

    Valid JSON may hold text that PostgreSQL's jsonb refuses (NUL, lone surrogates):
    caught here, it fails one learner instead of the chunk's whole write.
    """
    records = [*read.enrollments.values()]
    for grade_data in read.grades.values():
        records += [grade_data.current_grade, grade_data.certificate]
    for record in records:
        if record is None or record is UNREAD:
            continue
        text = json.dumps(record, ensure_ascii=False)
        if "\\u0000" in text:
            raise EdxRefreshError(STAGE_CACHE_REFRESH, "malformed_response")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise EdxRefreshError(STAGE_CACHE_REFRESH, "malformed_response") from None
    return read


def _upsert(model, rows):
    insert_rows(
        model,
        rows,
        conflict=("user", "course_run"),
        update=("data", "refreshed_on"),
    )


def _delete_pairs(model, pairs):
    """Delete the rows of these (user id, course run id) pairs, a statement per run."""
    by_run = {}
    for user_id, run_id in pairs:
        by_run.setdefault(run_id, []).append(user_id)
    for run_id, user_ids in by_run.items():
        model.objects.filter(course_run_id=run_id, user_id__in=user_ids).delete()


def store_learner_reads(reads):
    """Write what was read into the cache, set-based; call inside a transaction."""
    now = timezone.now()

    def row(model, user_id, course_run_id, data):
        return {"user": user_id, "course_run": course_run_id, "data": data, "refreshed_on": now}

    enrollments, gone = [], []
    for read in reads:
        enrollments += [
            row(CachedEnrollment, read.user_id, run_id, data)
            for run_id, data in read.enrollments.items()
        ]
    kept = {(enrollment["user"], enrollment["course_run"]) for enrollment in enrollments}
    whole = [read.user_id for read in reads if read.all_enrollments]
    cached = CachedEnrollment.objects.filter(user_id__in=whole)
    cached = cached.values_list("user_id", "course_run_id")
    gone += [pair for pair in cached if pair not in kept]
    gone += [
        (read.user_id, run_id)
        for read in reads
        if not read.all_enrollments
        for run_id in read.grades
        if run_id not in read.enrollments
    ]
    _delete_pairs(CachedEnrollment, gone)
    _upsert(CachedEnrollment, enrollments)
    for model, attribute in (
        (CachedCertificate, "certificate"),
        (CachedCurrentGrade, "current_grade"),
    ):
        rows, absent = [], []
        for read in reads:
            for run_id, grade_data in read.grades.items():
                data = getattr(grade_data, attribute)
                if data is UNREAD:
                    continue
                if data is None:
                    absent.append((read.user_id, run_id))
                else:
                    rows.append(row(model, read.user_id, run_id, data))
        _delete_pairs(model, absent)
        _upsert(model, rows)


def refresh_cached_data(user, course_runs=None):
    """Refresh the token, the enrollments, then the certificates and current grades of
    `course_runs` (default: every known run the learner is enrolled in).

    Everything is fetched first and written in one transaction, so the cache never
    mixes two refreshes and a fault leaves it as it was.
    """
    reads, errors = read_learners([user], course_runs)
    if user.pk in errors:
        raise errors[user.pk]
    with transaction.atomic():
        store_learner_reads(reads.values())
    return reads[user.pk]


class CachedEdxDataApi:
    """The runbook's name for refreshing a learner's cached edX data."""

    @staticmethod
    def update_all_cached_grade_data(user):
        """Refresh the token, enrollments, certificates and current grades of every
        course run the platform knows that the learner is enrolled in."""
        refresh_cached_data(user)
