"""The audit of final grades: every create, change and delete is recorded with its actor.

Signals cover saves; FinalGrade's `delete()` audits itself, and its queryset audits
its own `delete()` (the runbook's revert typed in a shell), `update()`,
`bulk_update()` and `bulk_create()`. Raw SQL is not seen. Code that acts for someone names them with
`acting_as`; otherwise the actor is the process (command and OS user).
"""

import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, cast

from django.db import models, transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from courses.models import CourseRun
from gradefreeze.bulk_writes import insert_rows
from grades.models import FinalGrade, FinalGradeAudit
from grades.policy import FinalGradeValues

_actor: ContextVar[str | None] = ContextVar("final_grade_actor", default=None)


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str:
    actor = _actor.get()
    if actor:
        return actor
    command = " ".join(os.path.basename(arg) for arg in sys.argv[:2]) or "python"
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        os_user = f"uid {os.getuid()}"
    return f"{command} as {os_user}"[:255]


AUDITED = FinalGrade.AUDITED_FIELDS


def snapshot(final_grade: FinalGrade) -> dict:
    """The audited values of a final grade, as the audit records them."""
    return {name: getattr(final_grade, name) for name in AUDITED}


def _values(row: Sequence) -> dict:
    """The audited values of a row read as AUDITED's columns, in order, as Python values
    (SQLite returns booleans as integers)."""
    fields = [cast(models.Field, FinalGrade._meta.get_field(name)) for name in AUDITED]
    return {field.name: field.to_python(value) for field, value in zip(fields, row, strict=True)}


def audit_row(
    action: str, final_grade: FinalGrade, before: dict | None, after: dict | None
) -> FinalGradeAudit:
    return FinalGradeAudit(
        final_grade_id=final_grade.pk,
        user_id=final_grade.user_id,
        course_run_id=final_grade.course_run_id,
        action=action,
        actor=current_actor(),
        before=before,
        after=after,
    )


@receiver(pre_save, sender=FinalGrade)
def remember_before(sender: type, instance: FinalGrade, **kwargs: Any) -> None:
    previous = None
    if instance.pk is not None:
        previous = FinalGrade.objects.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(previous) if previous else None  # type: ignore[attr-defined]


@receiver(post_save, sender=FinalGrade)
def audit_save(sender: type, instance: FinalGrade, created: bool, **kwargs: Any) -> None:
    before = None if created else getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if not created and before == after:
        return
    action = FinalGradeAudit.CREATED if created else FinalGradeAudit.CHANGED
    audit_row(action, instance, before, after).save()


def audit_deleted(final_grade: FinalGrade) -> None:
    """Record the deletion of one final grade (its model's delete() calls this first)."""
    audit_row(FinalGradeAudit.DELETED, final_grade, snapshot(final_grade), None).save()


def audited_update(
    queryset: models.QuerySet, values: dict[str, Any], update: Callable[..., int]
) -> int:
    """Run a queryset update of final grades, auditing every row it changes."""
    with transaction.atomic():
        before = {row.pk: snapshot(row) for row in queryset.select_for_update()}
        count = update(**values)
        changed = [
            audit_row(FinalGradeAudit.CHANGED, row, before[row.pk], snapshot(row))
            for row in FinalGrade.objects.filter(pk__in=before)
            if snapshot(row) != before[row.pk]
        ]
        FinalGradeAudit.objects.bulk_create(changed)
    return count


def audit_created(final_grades: Iterable[FinalGrade]) -> None:
    FinalGradeAudit.objects.bulk_create(
        audit_row(FinalGradeAudit.CREATED, final_grade, None, snapshot(final_grade))
        for final_grade in final_grades
    )


def insert_final_grades(course_run: CourseRun, values: Mapping[int, FinalGradeValues]) -> int:
    """Insert the final grades ({user id: FinalGradeValues}) of learners who have none in
    the run, in one statement, and audit exactly the rows inserted; returns how many.

    A learner who already has one (frozen meanwhile by another worker) keeps it: the
    unique constraint decides, and RETURNING says which rows were written.
    """
    with transaction.atomic():  # the rows and their audit, or neither
        now = timezone.now()
        inserted = insert_rows(
            FinalGrade,
            [
                {
                    "user": user_id,
                    "course_run": course_run.pk,
                    **{name: getattr(value, name) for name in AUDITED},
                    "created_on": now,
                    "updated_on": now,
                }
                for user_id, value in sorted(values.items())
            ],
            conflict=("user", "course_run"),
            returning=("id", "user_id", *AUDITED),
        )
        actor = current_actor()
        insert_rows(
            FinalGradeAudit,
            [
                {
                    "final_grade_id": final_grade_id,
                    "user_id": user_id,
                    "course_run_id": course_run.pk,
                    "action": FinalGradeAudit.CREATED,
                    "actor": actor,
                    "acted_on": now,
                    "before": None,
                    "after": _values(values),
                }
                for final_grade_id, user_id, *values in inserted
            ],
        )
        return len(inserted)


DELETE_BATCH = 10_000


def audited_delete(queryset: models.QuerySet) -> tuple[int, dict[str, int]]:
    """Delete these final grades, auditing each deleted row; set-based, all or nothing.

    The deletes go through Django's own queryset delete (FinalGrade has no delete
    signals, so with nothing pointing at it Django deletes in one statement per batch;
    a model that comes to point at it is cascaded or protected as its foreign key says).
    """
    with transaction.atomic(using=queryset.db):
        rows = list(
            queryset.select_for_update().values_list("id", "user_id", "course_run_id", *AUDITED)
        )
        now, actor = timezone.now(), current_actor()
        insert_rows(
            FinalGradeAudit,
            [
                {
                    "final_grade_id": final_grade_id,
                    "user_id": user_id,
                    "course_run_id": course_run_id,
                    "action": FinalGradeAudit.DELETED,
                    "actor": actor,
                    "acted_on": now,
                    "before": _values(values),
                    "after": None,
                }
                for final_grade_id, user_id, course_run_id, *values in rows
            ],
        )
        deleted: dict[str, int] = {}
        for start in range(0, len(rows), DELETE_BATCH):
            ids = [row[0] for row in rows[start : start + DELETE_BATCH]]
            batch = FinalGrade.objects.filter(pk__in=ids).using(queryset.db)
            _, by_model = models.QuerySet.delete(batch)
            for label, count in by_model.items():
                deleted[label] = deleted.get(label, 0) + count
    return sum(deleted.values()), deleted
