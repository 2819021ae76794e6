"""Final grades: computing them by the run's policy, freezing them, and the freeze of a run.

A freeze round takes the run's population (learners enrolled with a current
grade), leaves out who is frozen or already failed this round, and runs the
rest in chunks; the chunk that finishes last reconciles, and the run is
complete when nobody is left.
"""

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from social_django.models import UserSocialAuth

from courses.api import CourseRunError, check_freeze_date_passed
from courses.models import CourseRun
from dashboard.api_edx_cache import (
    EDX_PROVIDER,
    UNREAD,
    EdxRefreshError,
    GradeData,
    LearnerRead,
    check_storable,
    course_grade_pages,
    read_course_page,
    read_learners,
    refresh_cached_data,
    store_learner_reads,
)
from dashboard.lms_client import staff_client_configured
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment
from gradefreeze.bulk_writes import insert_rows
from grades.audit import insert_final_grades
from grades.models import CourseRunGradingStatus, FinalGrade, FinishedChunk, FreezeFailure

__all__ = [
    "FinalGradeError",
    "FinalGradeValues",
    "compute_final_grade",
    "freeze_course_run",
    "freeze_status",
    "freeze_user_final_grade",
    "freeze_users",
    "get_final_grade",
]

log = logging.getLogger(__name__)

PAID_MODES = frozenset({"verified", "honor"})
DOWNLOADABLE = "downloadable"


class FinalGradeError(Exception):
    """The final grade cannot be computed from what edX said."""

    stage = FreezeFailure.COMPUTATION
    http_status = None

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FinalGradeValues:
    grade: float
    passed: bool
    paid: bool


def parse_percent(value):
    """edX's percent as a float in [0, 1]; anything that does not parse as one is 0.0."""
    if isinstance(value, bool):
        return 0.0
    try:
        percent = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if not math.isfinite(percent):
        return 0.0
    return min(max(percent, 0.0), 1.0)


def paid_mode(value):
    """Whether edX's mode or certificate type is a paid one; JSON of any other shape is not."""
    return isinstance(value, str) and value in PAID_MODES


def check_shapes(current_grade, certificate, enrollment):
    """edX's records are JSON objects; the certificate and enrollment may be missing (None)."""
    if not isinstance(current_grade, dict):
        raise FinalGradeError("malformed_current_grade")
    for name, record in (("certificate", certificate), ("enrollment", enrollment)):
        if record is not None and not isinstance(record, dict):
            raise FinalGradeError(f"malformed_{name}")


def compute_final_grade(has_exam, current_grade, certificate, enrollment):
    """Apply the run's grading policy to edX's JSON (certificate, enrollment may be None)."""
    check_shapes(current_grade, certificate, enrollment)
    enrollment_paid = paid_mode((enrollment or {}).get("mode"))
    grade = parse_percent(current_grade.get("percent"))
    if has_exam:
        return FinalGradeValues(
            grade=grade, passed=current_grade.get("passed") is True, paid=enrollment_paid
        )
    if certificate is None:
        return FinalGradeValues(grade=grade, passed=False, paid=enrollment_paid)
    return FinalGradeValues(
        grade=grade,
        passed=certificate.get("status") == DOWNLOADABLE,
        paid=paid_mode(certificate.get("certificate_type")),
    )


def _cached(model, user, course_run):
    row = model.objects.filter(user=user, course_run=course_run).only("data").first()
    return row.data if row else None


def final_grade_from(course_run, grade_data, enrollment):
    """The final grade from what edX said of a learner in the run (read or cached)."""
    current_grade = grade_data.current_grade
    if current_grade is None:
        raise FinalGradeError("no_current_grade")
    certificate = None if grade_data.certificate is UNREAD else grade_data.certificate
    return compute_final_grade(course_run.has_exam, current_grade, certificate, enrollment)


def get_final_grade(user, course_run):
    """The learner's final grade in the run, computed from the cached edX data."""
    grade_data = GradeData(
        certificate=_cached(CachedCertificate, user, course_run),
        current_grade=_cached(CachedCurrentGrade, user, course_run),
    )
    return final_grade_from(course_run, grade_data, _cached(CachedEnrollment, user, course_run))


def store_final_grade(user, course_run, values):
    """The one FinalGrade of (user, run): created with these values, or the one already there."""
    insert_final_grades(course_run, {user.pk: values})
    return FinalGrade.objects.get(user=user, course_run=course_run)


def freeze_user_final_grade(user, course_run):
    """Refresh the learner's edX data, compute and store their final grade; once only.

    Raises CourseRunError when the run's freeze date has not passed.
    """
    existing = FinalGrade.objects.filter(user=user, course_run=course_run).first()
    if existing is not None:
        return existing
    check_freeze_date_passed(course_run)
    refresh_cached_data(user, [course_run])
    return store_final_grade(user, course_run, get_final_grade(user, course_run))


# The freeze of a course run


def population(course_run):
    """The learners actively enrolled in the run who have a current grade."""
    enrolled = CachedEnrollment.objects.filter(course_run=course_run, data__is_active=True)
    graded = CachedCurrentGrade.objects.filter(course_run=course_run)
    return (
        get_user_model()
        .objects.filter(id__in=enrolled.values("user_id"))
        .filter(id__in=graded.values("user_id"))
    )


def frozen_user_ids(course_run):
    return FinalGrade.objects.filter(course_run=course_run).values("user_id")


def learners_left(course_run, grading_status):
    """The population less the frozen and those that already failed this round."""
    left = population(course_run).exclude(id__in=frozen_user_ids(course_run))
    if grading_status is not None:
        left = left.exclude(id__in=grading_status.failures.values("user_id"))
    return left


def freeze_mode_of(course_run):
    """How the run's freeze reads the LMS: the run's own choice, else FREEZE_MODE, else
    course-wide when a staff client is configured."""
    if course_run.freeze_mode != CourseRun.AUTO:
        return course_run.freeze_mode
    if settings.FREEZE_MODE != CourseRun.AUTO:
        return settings.FREEZE_MODE
    return CourseRun.COURSE_WIDE if staff_client_configured() else CourseRun.PER_LEARNER


def round_finished(grading_status):
    """Every chunk of the current round is known and has finished."""
    return grading_status.listed and grading_status.chunks_done >= grading_status.chunks_total


def chunks_in_flight(grading_status):
    """Whether chunks of the current round are still running (not finished, not stalled).

    Tasks run in-process run inside the command that started them: once it is gone
    (finished or interrupted), none of its chunks is left running anywhere.
    """
    if current_app.conf.task_always_eager:
        return False
    if round_finished(grading_status):
        return False
    stall = timedelta(seconds=settings.FREEZE_STALL_SECONDS)
    progressed_on = grading_status.progressed_on
    return progressed_on is not None and progressed_on > timezone.now() - stall


def mark_complete(grading_status):
    grading_status.status = CourseRunGradingStatus.COMPLETE
    grading_status.completed_on = timezone.now()
    grading_status.save(update_fields=["status", "completed_on", "mode"])


@dataclass(frozen=True)
class FreezeRound:
    """One round of a run's freeze, for the workers.

    A round is named by its grading status and number: a chunk of an older round
    (or of a status reverted since) finds it is no longer current and does nothing.
    A per-learner round carries its chunks of user ids; a course-wide round finds its
    chunks (pages of the run's grades) as it lists them.
    """

    grading_status_id: int
    number: int
    mode: str = CourseRun.PER_LEARNER
    chunks: list = field(default_factory=list)


def learner_chunks(user_ids):
    """User ids in chunks of FREEZE_CHUNK_SIZE, a per-learner task each."""
    size = settings.FREEZE_CHUNK_SIZE
    return [user_ids[i : i + size] for i in range(0, len(user_ids), size)]


def _start_round(grading_status, mode, chunk_count, listed=None):
    """A new round of `chunk_count` chunks; a course-wide one is listed as it goes."""
    grading_status.status = CourseRunGradingStatus.PENDING
    grading_status.completed_on = None
    grading_status.dispatch += 1
    grading_status.mode = mode
    grading_status.listed = mode == CourseRun.PER_LEARNER if listed is None else listed
    grading_status.population = population(grading_status.course_run).count()
    grading_status.chunks_total = chunk_count
    grading_status.chunks_done = 0
    grading_status.progressed_on = timezone.now()
    grading_status.save()


def freeze_course_run(course_run, send_chunks):
    """Start or go on with the freeze of a run; returns what it did.

    Outcomes: "not_due" (no freeze date, or not passed), "complete" (already was),
    "in_progress" (chunks still running), "completed" (nothing left: marked complete
    now), "dispatched" (a round sent). `send_chunks(freeze_round)` is called once the
    round is committed. The run's grading status row stays locked meanwhile, so two
    freezes of one run never interleave.
    """
    try:
        check_freeze_date_passed(course_run)
    except CourseRunError:
        return "not_due"
    mode = freeze_mode_of(course_run)
    with transaction.atomic():
        grading_status, _ = CourseRunGradingStatus.objects.select_for_update().get_or_create(
            course_run=course_run
        )
        if grading_status.is_complete:
            return "complete"
        if chunks_in_flight(grading_status):
            return "in_progress"
        if mode == CourseRun.COURSE_WIDE:
            course_wide_done = (
                grading_status.mode == CourseRun.COURSE_WIDE
                and grading_status.dispatch > 0
                and round_finished(grading_status)
            )
            if course_wide_done:
                mark_complete(grading_status)
                return "completed"
            _start_round(grading_status, mode, 0)
            freeze_round = FreezeRound(grading_status.pk, grading_status.dispatch, mode)
        else:
            left = learners_left(course_run, grading_status).order_by("id")
            left = list(left.values_list("id", flat=True))
            if not left:
                grading_status.mode = mode
                mark_complete(grading_status)
                return "completed"
            chunks = learner_chunks(left)
            _start_round(grading_status, mode, len(chunks))
            freeze_round = FreezeRound(grading_status.pk, grading_status.dispatch, mode, chunks)
        transaction.on_commit(lambda: send_chunks(freeze_round))
    return "dispatched"


def current_round(grading_status_id, round_number):
    """The run's grading status if this round is still the one to work on, else None."""
    return (
        CourseRunGradingStatus.objects.select_related("course_run__course")
        .filter(pk=grading_status_id, dispatch=round_number, status=CourseRunGradingStatus.PENDING)
        .first()
    )


def record_failures(grading_status, errors):
    """Record why each of these learners ({user id: error}) was not frozen this round."""
    now = timezone.now()
    insert_rows(
        FreezeFailure,
        [
            {
                "grading_status": grading_status.pk,
                "user": user_id,
                "stage": error.stage,
                "reason": str(error.reason)[:255],
                "http_status": error.http_status,
                "failed_on": now,
            }
            for user_id, error in sorted(errors.items())
        ],
        conflict=("grading_status", "user"),
        update=("stage", "reason", "http_status", "failed_on"),
    )


def freeze_reads(grading_status, reads, errors, cache_only=()):
    """Compute the final grades of what was read, then write the cache, the grades and
    the failures of the chunk in one transaction; returns (frozen, failed).

    A learner frozen meanwhile by someone else keeps the grade they have.
    """
    course_run = grading_status.course_run
    errors = dict(errors)
    values = {}
    for user_id, read in reads.items():
        try:
            values[user_id] = final_grade_from(
                course_run, read.grades[course_run.pk], read.enrollments.get(course_run.pk)
            )
        except FinalGradeError as error:
            errors[user_id] = error
        except Exception as error:  # one learner's bug must not stop the others
            # Logged at ERROR level, which Sentry's logging integration reports.
            log.exception("unexpected failure freezing user %s in %s", user_id, course_run)
            errors[user_id] = EdxRefreshError(FreezeFailure.UNEXPECTED, type(error).__name__)
    with transaction.atomic():
        store_learner_reads([*reads.values(), *cache_only])
        frozen = insert_final_grades(course_run, values)
        record_failures(grading_status, errors)
    return frozen, len(errors)


def _touch(grading_status):
    CourseRunGradingStatus.objects.filter(pk=grading_status.pk).update(progressed_on=timezone.now())


def freeze_users(grading_status, user_ids):
    """Per-learner mode: read each learner with their own token (many in flight at once),
    then freeze the chunk set-based, recording why each learner not frozen was not."""
    course_run = grading_status.course_run
    _touch(grading_status)
    users = list(
        get_user_model()
        .objects.filter(id__in=user_ids)
        .exclude(id__in=frozen_user_ids(course_run))
        .order_by("id")
    )
    reads, errors = read_learners(users, [course_run])
    return freeze_reads(grading_status, reads, errors)


def list_course_run(grading_status, send_page):
    """Course-wide mode: walk the run's grade pages, sending each as a chunk with
    `send_page(index, records)`; returns True when the round is then all done.

    A walk run again (its worker died) sends the same pages again: the chunks skip
    learners already frozen and a finished chunk is counted once.
    """
    course_run = grading_status.course_run
    index = 0
    for index, records in enumerate(course_grade_pages(course_run, settings.FREEZE_PAGE_SIZE)):
        updated = CourseRunGradingStatus.objects.filter(
            pk=grading_status.pk, dispatch=grading_status.dispatch
        ).update(chunks_total=Greatest(F("chunks_total"), index + 1), progressed_on=timezone.now())
        if not updated:
            return False  # reverted or superseded meanwhile
        send_page(index, records)
    with transaction.atomic():
        grading_status = (
            CourseRunGradingStatus.objects.select_for_update()
            .filter(pk=grading_status.pk, dispatch=grading_status.dispatch)
            .first()
        )
        if grading_status is None:
            return False
        grading_status.listed = True
        grading_status.chunks_total = index + 1
        grading_status.save(update_fields=["listed", "chunks_total"])
    log.info("%s: %d pages of grades listed", grading_status.course_run.edx_course_key, index + 1)
    return round_finished(grading_status)


def freeze_course_page(grading_status, records):
    """Course-wide mode: freeze the learners of one page of the run's grades.

    Learners are matched to the platform by their edX link (edX username); who has
    none is not the platform's learner. Learners frozen, or failed this round, are
    skipped. The page's enrollments and certificates are read with the staff token,
    and what was read is cached as a per-learner read would cache it.
    """
    course_run = grading_status.course_run
    _touch(grading_status)
    grades = {}
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("username"), str):
            grades[record["username"]] = record
        else:
            log.warning("%s: a grade record without a username was skipped", course_run)
    user_ids = dict(
        UserSocialAuth.objects.filter(provider=EDX_PROVIDER, uid__in=list(grades)).values_list(
            "uid", "user_id"
        )
    )
    done = set(
        FinalGrade.objects.filter(course_run=course_run, user_id__in=user_ids.values()).values_list(
            "user_id", flat=True
        )
    )
    done |= set(
        grading_status.failures.filter(user_id__in=user_ids.values()).values_list(
            "user_id", flat=True
        )
    )
    user_ids = {uid: user_id for uid, user_id in user_ids.items() if user_id not in done}
    # Two halves, the second read while the first is written: the read is CPU in this
    # process, the write mostly waiting on the database, so they overlap.
    names = sorted(user_ids)
    halves = [names[: len(names) // 2], names[len(names) // 2 :]]
    frozen = failed = 0
    with ThreadPoolExecutor(max_workers=1) as reader:
        reading = reader.submit(read_course_page, course_run, {n: user_ids[n] for n in halves[0]})
        for half, following in zip(halves, [*halves[1:], None], strict=True):
            answer = reading.result()
            if following is not None:
                reading = reader.submit(
                    read_course_page, course_run, {n: user_ids[n] for n in following}
                )
            page_frozen, page_failed = _freeze_page_part(
                grading_status, grades, {n: user_ids[n] for n in half}, *answer
            )
            frozen, failed = frozen + page_frozen, failed + page_failed
    return frozen, failed


def _freeze_page_part(grading_status, grades, user_ids, enrollments, certificates, read_errors):
    course_run = grading_status.course_run
    reads, errors, cache_only = {}, {}, []
    for username, user_id in user_ids.items():
        if username in read_errors:
            errors[user_id] = read_errors[username]
            continue
        enrollment = enrollments[username]
        read = LearnerRead(
            user_id=user_id,
            enrollments={course_run.pk: enrollment} if enrollment is not None else {},
            grades={
                course_run.pk: GradeData(
                    certificate=certificates.get(username, UNREAD), current_grade=grades[username]
                )
            },
            all_enrollments=False,
        )
        try:
            check_storable(read)
        except EdxRefreshError as error:
            errors[user_id] = error
            continue
        if enrollment is not None and enrollment.get("is_active") is True:
            reads[user_id] = read
        else:
            cache_only.append(read)  # not in the population: nothing to freeze
    return freeze_reads(grading_status, reads, errors, cache_only)


def finish_chunk(grading_status, round_number, index):
    """Record a finished chunk of this round, once; True when the round is all done."""
    with transaction.atomic():
        grading_status = (
            CourseRunGradingStatus.objects.select_for_update()
            .filter(pk=grading_status.pk, dispatch=round_number)
            .first()
        )
        if grading_status is None:
            return False
        _, first_time = FinishedChunk.objects.get_or_create(
            grading_status=grading_status, round=round_number, index=index
        )
        if first_time:
            grading_status.chunks_done += 1
            grading_status.progressed_on = timezone.now()
            grading_status.save(update_fields=["chunks_done", "progressed_on"])
    log.info(
        "%s: %d of %d chunks done",
        grading_status.course_run.edx_course_key,
        grading_status.chunks_done,
        grading_status.chunks_total,
    )
    return round_finished(grading_status)


def complete_course_run_freeze(course_run):
    """Mark the run complete by hand; refuses while its chunks still run. Returns the outcome."""
    with transaction.atomic():
        grading_status = (
            CourseRunGradingStatus.objects.select_for_update().filter(course_run=course_run).first()
        )
        if grading_status is None:
            return "not_started"
        if grading_status.is_complete:
            return "complete"
        if chunks_in_flight(grading_status):
            return "in_progress"
        mark_complete(grading_status)
        return "completed"


# Status

NOT_STARTED = "not started"
PROCESSING = "being processed"
DONE_NOT_MARKED = "done but not marked complete"
STALLED = "stalled: learners left and no chunk running"
COMPLETE = "complete"


@dataclass(frozen=True)
class FreezeStatus:
    state: str
    frozen: int
    failed: int
    left: int
    needed: int
    failures_by_reason: dict
    chunks_done: int = 0
    chunks_total: int = 0
    mode: str = ""


def freeze_status(course_run):
    """Where the freeze of the run stands, from the database alone.

    needed counts everyone the freeze is about: the population, and anyone frozen
    or failed who has left it since. A learner frozen by hand after failing counts
    as frozen only.
    """
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    frozen = frozen_user_ids(course_run)
    failures = FreezeFailure.objects.none()
    if grading_status is not None:
        failures = grading_status.failures.exclude(user_id__in=frozen)
    by_reason = {
        (row["stage"], row["reason"], row["http_status"]): row["count"]
        for row in failures.values("stage", "reason", "http_status").annotate(count=Count("id"))
    }
    left = learners_left(course_run, grading_status).count()
    needed = (
        get_user_model()
        .objects.filter(
            Q(id__in=population(course_run).values("id"))
            | Q(id__in=frozen)
            | Q(id__in=failures.values("user_id"))
        )
        .count()
    )
    if grading_status is None:
        state = NOT_STARTED
    elif grading_status.is_complete:
        state = COMPLETE
    elif chunks_in_flight(grading_status):
        state = PROCESSING
    elif grading_status.mode == CourseRun.COURSE_WIDE:
        state = DONE_NOT_MARKED if round_finished(grading_status) else STALLED
    elif left == 0:
        state = DONE_NOT_MARKED
    else:
        state = STALLED
    return FreezeStatus(
        state=state,
        frozen=frozen.count(),
        failed=sum(by_reason.values()),
        left=left,
        needed=needed,
        failures_by_reason=by_reason,
        chunks_done=grading_status.chunks_done if grading_status else 0,
        chunks_total=grading_status.chunks_total if grading_status else 0,
        mode=grading_status.mode if grading_status else "",
    )


def revert_freeze(course_run):
    """Delete the run's final grades (each delete audited) and its grading status, together."""
    with transaction.atomic():
        deleted, _ = FinalGrade.objects.filter(course_run=course_run).delete()
        CourseRunGradingStatus.objects.filter(course_run=course_run).delete()
    return deleted


# Retrying the failed learners of a run


def retry_failed_learners(course_run, send_chunks):
    """Send a new round made of exactly the run's failed learners; returns (outcome, round).

    Outcomes: "not_started" (no freeze yet), "not_due" (freeze date unset or moved to
    the future), "in_progress" (chunks still running), "nothing_failed", and
    "dispatched" with the FreezeRound, which `send_chunks` gets once committed. Their
    failure rows go, so they count as left until their chunk has run; a complete run
    goes back to pending and the round's last chunk completes it again. Learners
    frozen by hand since they failed are not retried.
    """
    with transaction.atomic():
        grading_status = (
            CourseRunGradingStatus.objects.select_for_update().filter(course_run=course_run).first()
        )
        if grading_status is None:
            return "not_started", None
        try:
            check_freeze_date_passed(course_run)
        except CourseRunError:
            return "not_due", None
        if chunks_in_flight(grading_status):
            return "in_progress", None
        failures = grading_status.failures.exclude(user_id__in=frozen_user_ids(course_run))
        failed = list(failures.order_by("user_id").values_list("user_id", flat=True))
        if not failed:
            return "nothing_failed", None
        failures.delete()
        chunks = learner_chunks(failed)
        # The round reads each learner with their own token, whatever the run's mode; the
        # status keeps the run's mode, so the reconcile at the round's end completes a
        # course-wide run without listing it all again.
        _start_round(grading_status, grading_status.mode, len(chunks), listed=True)
        freeze_round = FreezeRound(
            grading_status.pk, grading_status.dispatch, CourseRun.PER_LEARNER, chunks
        )
        transaction.on_commit(lambda: send_chunks(freeze_round))
    return "dispatched", freeze_round
