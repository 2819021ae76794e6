"""Reading a whole course run from the LMS with the staff client's token (course-wide mode).

The run's current grades come by pages; for the learners of a page, their enrollments
in the run come in batches of usernames, and certificates are asked only for learners
who can hold one (actively enrolled, not in audit mode). Far fewer requests than
reading each learner with their own token. The requests go over lms_async's aiohttp
pool, many in flight, on the process's event loop.
"""

import asyncio
import json
from collections.abc import Awaitable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from courses.models import CourseRun
from dashboard.cache import check_storable
from dashboard.failures import EdxRefreshError, Stage, edx_errors, learner_error
from dashboard.lms_async import async_staff_reader, run, submit
from dashboard.lms_client import StaffTokenError
from dashboard.records import UNREAD, EdxJson, GradeData, LearnerRead, LearnersRead

K = TypeVar("K")
V = TypeVar("V")

# edX gives no certificate to audit learners (only audit_passing/audit_notpassing).
NO_CERTIFICATE_MODES = frozenset({"audit"})
# The enrollments listing takes at most this many usernames (and answers 100 a page).
USERNAMES_PER_REQUEST = 100


@dataclass(frozen=True)
class ListedLearner:
    """A learner of a grade page who is the platform's: their user and the grade edX listed."""

    user_id: int
    current_grade: EdxJson


async def staff_json(
    endpoint: str, path_or_url: str, fields: dict | None = None, missing_ok: bool = False
) -> Any:
    """edX's JSON answer to a GET of `endpoint` with the staff token; None for a 404 if
    `missing_ok`. Call on lms_async's event loop."""
    with edx_errors():
        try:
            response = await async_staff_reader().get(endpoint, path_or_url, fields)
        except StaffTokenError as error:
            raise EdxRefreshError(Stage.TOKEN_REFRESH, str(error)) from None
        if missing_ok and response.status == 404:
            return None
        if response.status >= 400:
            raise EdxRefreshError(Stage.CACHE_REFRESH, "http_error", response.status)
        return json.loads(response.data)


def course_grade_pages(course_run: CourseRun, page_size: int) -> Iterator[list]:
    """The run's current grades as edX lists them, page by page, following `next`.

    edX pages this listing with a cursor, so pages come one after the other; the
    caller works on each page while the next one is read.
    """
    url: str | None = f"api/grades/v1/courses/{course_run.edx_course_key}/"
    fields: dict | None = {"page_size": page_size}
    while url:
        with edx_errors():
            page = run(staff_json("grades", url, fields))
            results, url, fields = page["results"], page.get("next"), None
            if not isinstance(results, list):
                raise TypeError("results is not a list")
        yield results


async def _enrollments_of(course_key: str, usernames: list[str]) -> list:
    """The enrollments in the run of these learners, as the staff listing gives them."""
    url: str | None = "api/enrollment/v1/enrollments"
    fields: dict | None = {"course_id": course_key, "username": ",".join(usernames)}
    found: list = []
    while url:
        with edx_errors():
            page = await staff_json("enrollments", url, fields)
            found += page["results"]
            url, fields = page.get("next"), None
    return found


def read_course_page(course_run: CourseRun, learners: Mapping[str, ListedLearner]) -> LearnersRead:
    """Read what the run's staff view says of these learners (by edX username); waits."""
    return run(read_course_page_async(course_run, learners))


def start_course_page_read(
    course_run: CourseRun, learners: Mapping[str, ListedLearner]
) -> "Future[LearnersRead]":
    """Start reading these learners on the event loop; the caller goes on meanwhile."""
    return submit(read_course_page_async(course_run, learners))


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
    batches = {
        i: names[i : i + USERNAMES_PER_REQUEST] for i in range(0, len(names), USERNAMES_PER_REQUEST)
    }
    failed: dict[str, EdxRefreshError] = {}
    enrollments: dict[str, EdxJson | None] = dict.fromkeys(names)
    certificates: dict[str, EdxJson | None] = {}
    answers = await _outcomes({i: _enrollments_of(key, batch) for i, batch in batches.items()})
    for i, answer in answers.items():
        if isinstance(answer, Exception):
            failed.update(dict.fromkeys(batches[i], learner_error(answer)))
            continue
        for enrollment in answer:
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

        async def fetch(name: str) -> EdxJson | None:
            path = f"api/certificates/v0/certificates/{name}/courses/{key}/"
            certificate = await staff_json("certificates", path, missing_ok=True)
            if certificate is not None and not isinstance(certificate, dict):
                raise TypeError("a certificate is not an object")
            return certificate

        for name, certificate in (await _outcomes({n: fetch(n) for n in can_hold})).items():
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
