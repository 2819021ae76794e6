"""Reading a whole course run from the LMS with the staff client's token (course-wide mode).

The run's current grades come by pages; for the learners of a page, their enrollments
in the run come in batches of usernames, and certificates are asked only for learners
who can hold one (actively enrolled, not in audit mode). Far fewer requests than
reading each learner with their own token. The requests go over lms_async's aiohttp
pool, many in flight, on the process's event loop.
"""

import asyncio
import re
from collections.abc import Awaitable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from django.conf import settings
from social_django.models import UserSocialAuth

from courses.models import CourseRun
from dashboard.cache import check_storable
from dashboard.failures import (
    EdxRefreshError,
    Reason,
    Stage,
    edx_errors,
    learner_error,
)
from dashboard.learner_endpoints import read_certificate, read_current_grade
from dashboard.lms_async import get_json, run, submit
from dashboard.records import UNREAD, EdxJson, GradeData, LearnerRead, LearnersRead
from dashboard.token_refresh import EDX_PROVIDER

K = TypeVar("K")
V = TypeVar("V")

# edX gives no certificate to audit learners (only audit_passing/audit_notpassing).
NO_CERTIFICATE_MODES = frozenset({"audit"})
# The enrollments listing takes at most this many usernames (and answers 100 a page).
USERNAMES_PER_REQUEST = 100
# edX's username rule, which the listing's form applies to each name of `username`
# (enrollments/forms.py CourseEnrollmentsApiListForm.clean_username calls
# user_authn/views/registration_form.py validate_username): Django's validate_slug, or,
# with ENABLE_UNICODE_USERNAME, a full match of USERNAME_REGEX_PARTIAL (lms/envs/common.py).
_ASCII_USERNAME = re.compile(r"^[-a-zA-Z0-9_]+\Z")
_UNICODE_USERNAME = re.compile(r"^[\w .@_+-]+\Z")


@dataclass(frozen=True)
class ListedLearner:
    """A learner of a grade page who is the platform's: their user and the grade edX listed
    (None: edX has none for them, read alone by `read_unlisted`)."""

    user_id: int
    current_grade: EdxJson | None


def course_grade_pages(course_run: CourseRun, page_size: int) -> Iterator[list]:
    """The run's current grades as edX lists them, page by page, following `next`.

    edX pages this listing with a cursor, so pages come one after the other; the
    caller works on each page while the next one is read.
    """
    url: str | None = f"api/grades/v1/courses/{course_run.edx_course_key}/"
    fields: dict | None = {"page_size": page_size}
    while url:
        with edx_errors():
            page = run(get_json("grades", url, fields))
            results, url, fields = page["results"], page.get("next"), None
            if not isinstance(results, list):
                raise TypeError("results is not a list")
        yield results


def batchable(username: str) -> bool:
    """Whether the enrollment listing takes this name in its `username` list: its form
    validates each name with edX's username rule, and one it refuses fails the request."""
    rule = _UNICODE_USERNAME if settings.EDX_UNICODE_USERNAMES else _ASCII_USERNAME
    return rule.match(username) is not None


async def _listed_enrollments(course_key: str, usernames: list[str]) -> list:
    """The enrollments in the run of these learners, as the staff listing gives them."""
    url: str | None = "api/enrollment/v1/enrollments"
    fields: dict | None = {"course_id": course_key, "username": ",".join(usernames)}
    found: list = []
    while url:
        with edx_errors():
            page = await get_json("enrollments", url, fields)
            found += page["results"]
            url, fields = page.get("next"), None
    return found


async def _one_enrollment(course_key: str, username: str) -> list:
    """The learner's enrollment in the run, active or not, read alone (EnrollmentView:
    `enrollment/{username},{course_id}`, which takes any username); [] for none."""
    path = f"api/enrollment/v1/enrollment/{quote(username, safe='')},{course_key}"
    with edx_errors():
        enrollment = await get_json("enrollments", path, empty_ok=True)
        if enrollment is not None and not isinstance(enrollment, dict):
            raise TypeError("an enrollment is not an object")
    return [] if enrollment is None else [enrollment]


async def _enrollments_of(
    course_key: str, usernames: list[str]
) -> tuple[list, dict[str, Exception]]:
    """The enrollments in the run of these learners, and what failed, by username.

    A batch the listing refuses (400: a name its form does not validate, which
    `batchable` did not foresee) is split in two, and so on down to one learner, who
    is read alone: one name never fails the others.
    """
    if len(usernames) == 1 and not batchable(usernames[0]):
        return await _one_learner(course_key, usernames[0])
    try:
        return await _listed_enrollments(course_key, usernames), {}
    except EdxRefreshError as error:
        if error.http_status != 400:
            raise
    if len(usernames) == 1:
        return await _one_learner(course_key, usernames[0])
    half = len(usernames) // 2
    (first, first_failed), (second, second_failed) = await asyncio.gather(
        _enrollments_of(course_key, usernames[:half]),
        _enrollments_of(course_key, usernames[half:]),
    )
    return first + second, {**first_failed, **second_failed}


async def _one_learner(course_key: str, username: str) -> tuple[list, dict[str, Exception]]:
    try:
        return await _one_enrollment(course_key, username), {}
    except Exception as error:  # this learner fails, with the reason
        return [], {username: error}


def read_course_page(course_run: CourseRun, learners: Mapping[str, ListedLearner]) -> LearnersRead:
    """Read what the run's staff view says of these learners (by edX username); waits."""
    _load_for_the_loop(course_run)
    return run(read_course_page_async(course_run, learners))


def start_course_page_read(
    course_run: CourseRun, learners: Mapping[str, ListedLearner]
) -> "Future[LearnersRead]":
    """Start reading these learners on the event loop; the caller goes on meanwhile."""
    _load_for_the_loop(course_run)
    return submit(read_course_page_async(course_run, learners))


def _load_for_the_loop(course_run: CourseRun) -> None:
    """Load here what the read uses of the run: no query may run on the event loop
    (Django refuses it: SynchronousOnlyOperation)."""
    course_run.has_exam  # noqa: B018 - loads the run's course


async def _outcomes(calls: Mapping[K, Awaitable[V]]) -> dict[K, V | Exception]:
    """{item: result or the exception it raised} of coroutines run at once (the transport
    bounds the requests in flight)."""

    async def outcome(call: Awaitable[V]) -> V | Exception:
        try:
            return await call
        except Exception as error:  # the caller decides, item by item
            return error

    results = await asyncio.gather(*(outcome(call) for call in calls.values()))
    return dict(zip(calls, results, strict=True))


async def read_course_page_async(
    course_run: CourseRun, learners: Mapping[str, ListedLearner]
) -> LearnersRead:
    """Read what the run's staff view says of these learners (by edX username): their
    enrollments in the run, in batches of usernames, then the certificates of those who
    can hold one, with up to FREEZE_PAGE_CONCURRENCY requests in flight.

    Each read covers only this run (`all_enrollments` false); a learner edX lists with
    no enrollment gets a read without one. Certificates not asked for are UNREAD.
    """
    key = course_run.edx_course_key
    names = sorted(learners)
    listed = [name for name in names if batchable(name)]
    batches = [
        listed[i : i + USERNAMES_PER_REQUEST] for i in range(0, len(listed), USERNAMES_PER_REQUEST)
    ]
    batches += [[name] for name in names if not batchable(name)]  # each read alone
    failed: dict[str, EdxRefreshError] = {}
    enrollments: dict[str, EdxJson | None] = dict.fromkeys(names)
    certificates: dict[str, EdxJson | None] = {}
    answers = await _outcomes({i: _enrollments_of(key, batch) for i, batch in enumerate(batches)})
    for i, answer in answers.items():
        if isinstance(answer, Exception):
            failed.update(dict.fromkeys(batches[i], learner_error(answer)))
            continue
        found, batch_failed = answer
        failed.update((name, learner_error(error)) for name, error in batch_failed.items())
        for enrollment in found:
            if isinstance(enrollment, dict) and enrollment.get("user") in enrollments:
                enrollments[enrollment["user"]] = enrollment
    if not course_run.has_exam:
        can_hold = [
            name
            for name in names
            if name not in failed
            and (enrollment := enrollments[name]) is not None
            and enrollment.get("is_active") is True
            and enrollment.get("mode") not in NO_CERTIFICATE_MODES
        ]

        fetches = {name: read_certificate(key, name) for name in can_hold}
        for name, certificate in (await _outcomes(fetches)).items():
            if isinstance(certificate, Exception):
                failed[name] = learner_error(certificate)
            else:
                certificates[name] = certificate
    reads: dict[int, LearnerRead] = {}
    errors = {learners[name].user_id: error for name, error in failed.items()}
    for name in names:
        if name in failed:
            continue
        learner, enrollment = learners[name], enrollments[name]
        read = LearnerRead(
            user_id=learner.user_id,
            enrollments={course_run.pk: enrollment} if enrollment is not None else {},
            grades={
                course_run.pk: GradeData(
                    certificate=certificates.get(name, UNREAD),
                    current_grade=learner.current_grade,
                )
            },
            all_enrollments=False,
        )
        try:
            reads[learner.user_id] = check_storable(read)
        except EdxRefreshError as error:
            errors[learner.user_id] = error
    return LearnersRead(reads=reads, errors=errors)


def read_unlisted(
    course_run: CourseRun, user_ids: list[int]
) -> tuple[dict[str, ListedLearner], dict[int, EdxRefreshError]]:
    """The learners the platform counts as actively enrolled but whom the run's grade
    listing never showed (it leaves out whoever is no longer active, and anyone whose
    grade read raised: views.py CourseGradesView._get_user_grades), read one by one with
    the staff token: their current grade from `?username=`, which answers for any
    enrollment, active or not. Returns them as a listing page would, for
    `read_course_page`, and the failures."""
    key = course_run.edx_course_key
    names = dict(
        UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user_id__in=user_ids).values_list(
            "uid", "user_id"
        )
    )
    errors: dict[int, EdxRefreshError] = {
        user_id: EdxRefreshError(Stage.TOKEN_REFRESH, Reason.NO_EDX_LINK)
        for user_id in set(user_ids) - set(names.values())
    }

    learners: dict[str, ListedLearner] = {}

    async def grades() -> dict[str, EdxJson | None | Exception]:
        return await _outcomes({name: read_current_grade(key, name) for name in sorted(names)})

    for name, grade in run(grades()).items():
        if isinstance(grade, Exception):
            errors[names[name]] = learner_error(grade)
        else:
            learners[name] = ListedLearner(names[name], grade)
    return learners, errors
