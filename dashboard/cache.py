"""The platform's cache of what edX said: written set-based from reads, read back by run.

Everything a read brought is written in one transaction, so the cache never mixes
two reads and a fault leaves it as it was.
"""

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from courses.models import CourseRun
from dashboard.failures import EdxRefreshError, Reason, Stage
from dashboard.models import (
    CachedCertificate,
    CachedCurrentGrade,
    CachedEdxData,
    CachedEnrollment,
    LearnerRefresh,
)
from dashboard.records import UNREAD, EdxJson, GradeData, LearnerRead
from gradefreeze.bulk_writes import insert_rows


def check_storable(read: LearnerRead) -> LearnerRead:
    """The read, if the database can store it; else a malformed answer of that learner.

    Valid JSON may hold text that PostgreSQL's jsonb refuses (NUL, lone surrogates):
    caught here, it fails one learner instead of the chunk's whole write.
    """
    records: list = [*read.enrollments.values()]
    for grade_data in read.grades.values():
        records += [grade_data.current_grade, grade_data.certificate]
    for record in records:
        if record is None or record is UNREAD:
            continue
        text = json.dumps(record, ensure_ascii=False)
        if "\\u0000" in text:
            raise EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise EdxRefreshError(Stage.CACHE_REFRESH, Reason.MALFORMED_RESPONSE) from None
    return read


def _upsert(model: type[CachedEdxData], rows: list[dict]) -> None:
    insert_rows(model, rows, conflict=("user", "course_run"), update=("data", "refreshed_on"))


def _delete_pairs(model: type[CachedEdxData], pairs: Iterable[tuple[int, int]]) -> None:
    """Delete the rows of these (user id, course run id) pairs, a statement per run."""
    by_run: dict[int, list[int]] = {}
    for user_id, run_id in pairs:
        by_run.setdefault(run_id, []).append(user_id)
    for run_id, user_ids in by_run.items():
        model._default_manager.filter(course_run_id=run_id, user_id__in=user_ids).delete()


def store_learner_reads(reads: Iterable[LearnerRead]) -> None:
    """Write what was read into the cache, set-based; call inside a transaction."""
    reads = list(reads)
    now = timezone.now()

    def row(user_id: int, course_run_id: int, data: EdxJson) -> dict:
        return {"user": user_id, "course_run": course_run_id, "data": data, "refreshed_on": now}

    enrollments = [
        row(read.user_id, run_id, data)
        for read in reads
        for run_id, data in read.enrollments.items()
    ]
    kept = {(enrollment["user"], enrollment["course_run"]) for enrollment in enrollments}
    whole = [read.user_id for read in reads if read.all_enrollments]
    cached = CachedEnrollment.objects.filter(user_id__in=whole)
    gone = [pair for pair in cached.values_list("user_id", "course_run_id") if pair not in kept]
    gone += [
        (read.user_id, run_id)
        for read in reads
        if not read.all_enrollments
        for run_id in read.grades
        if run_id not in read.enrollments
    ]
    _delete_pairs(CachedEnrollment, gone)
    _upsert(CachedEnrollment, enrollments)
    mark_enrollments_refreshed(whole, now)
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
                    rows.append(row(read.user_id, run_id, data))
        _delete_pairs(model, absent)
        _upsert(model, rows)


def _cached(model: type[CachedEdxData], user: User, course_run: CourseRun) -> EdxJson | None:
    row = model._default_manager.filter(user=user, course_run=course_run).only("data").first()
    return row.data if row else None


def cached_grade_data(user: User, course_run: CourseRun) -> tuple[GradeData, EdxJson | None]:
    """What the cache holds of the learner in the run: their grade data and enrollment."""
    grade_data = GradeData(
        certificate=_cached(CachedCertificate, user, course_run),
        current_grade=_cached(CachedCurrentGrade, user, course_run),
    )
    return grade_data, _cached(CachedEnrollment, user, course_run)


def enrolled_with_current_grade(course_run: CourseRun) -> QuerySet[models.Model, int]:
    """The ids of learners the cache shows actively enrolled in the run with a current grade."""
    enrolled = CachedEnrollment.objects.filter(course_run=course_run, data__is_active=True)
    graded = CachedCurrentGrade.objects.filter(
        course_run=course_run, user_id__in=enrolled.values("user_id")
    )
    return graded.values_list("user_id", flat=True)


def mark_enrollments_refreshed(user_ids: Iterable[int], when: datetime) -> None:
    """Record that these learners' enrollments were all read (or seeded) at `when`."""
    insert_rows(
        LearnerRefresh,
        [{"user": user_id, "enrollments_refreshed_on": when} for user_id in sorted(set(user_ids))],
        conflict=("user",),
        update=("enrollments_refreshed_on",),
    )


def stale_learner_ids(linked: QuerySet, max_age_seconds: int) -> QuerySet:
    """The ids of these users whose enrollments were read longer ago than max_age_seconds,
    or never."""
    cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
    # NOT EXISTS, not NOT IN: see grades.selectors.has_final_grade
    fresh = LearnerRefresh.objects.filter(
        user_id=OuterRef("pk"), enrollments_refreshed_on__gte=cutoff
    )
    return linked.filter(~Exists(fresh)).values_list("id", flat=True)
