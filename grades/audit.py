"""The audit of final grades: every create, change, delete and restore is recorded with
its actor; every delete is archived under a revert, which can be restored.

Signals cover saves; FinalGrade's `delete()` and its queryset's `delete()` (the
runbook's revert typed in a shell) archive and audit every row they delete, set-based;
`update()`, `bulk_update()` and `bulk_create()` audit themselves. Raw SQL is not seen.
Code that acts for someone names them with `acting_as`; otherwise the actor is the
process (command and OS user). `record_action` keeps who did what to a run's freeze.
"""

import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any, cast

from django.db import models, transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from courses.models import CourseRun
from gradefreeze.bulk_writes import insert_rows
from grades.models import (
    ArchivedFinalGrade,
    FinalGrade,
    FinalGradeAudit,
    FinalGradeRevert,
    FreezeAction,
)
from grades.policy import FinalGradeValues

_actor: ContextVar[str | None] = ContextVar("final_grade_actor", default=None)


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Everything audited inside is recorded as done by `actor` (e.g. a staff user)."""
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


def record_action(course_run: CourseRun, action: str, detail: str = "") -> FreezeAction:
    """Record that the current actor did `action` (a FreezeAction choice) to the run."""
    return FreezeAction.objects.create(
        course_run=course_run, action=action, actor=current_actor(), detail=detail[:255]
    )


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
ARCHIVED = ("id", "user_id", "course_run_id", *AUDITED, "created_on", "updated_on")


def audited_delete(queryset: models.QuerySet) -> tuple[int, dict[str, int]]:
    """A queryset delete of final grades: archived under a new revert and audited (none
    when nothing matches); see archive_and_delete."""
    if not queryset.exists():
        return 0, {}
    with transaction.atomic(using=queryset.db):
        revert = FinalGradeRevert.objects.using(queryset.db).create(actor=current_actor())
        return archive_and_delete(queryset, revert)


def archive_and_delete(
    queryset: models.QuerySet, revert: FinalGradeRevert
) -> tuple[int, dict[str, int]]:
    """Delete these final grades, archiving every column of each under `revert` and
    auditing each deletion; set-based, all or nothing.

    The deletes go through Django's own queryset delete (FinalGrade has no delete
    signals, so with nothing pointing at it Django deletes in one statement per batch;
    a model that comes to point at it is cascaded or protected as its foreign key says).
    """
    deleted: dict[str, int] = {}
    with transaction.atomic(using=queryset.db):
        # Lock them all first, then a batch at a time: a run's million final grades are
        # never all in memory.
        ids = list(queryset.select_for_update().order_by("pk").values_list("pk", flat=True))
        now, actor = timezone.now(), current_actor()
        for start in range(0, len(ids), DELETE_BATCH):
            batch = FinalGrade.objects.filter(pk__in=ids[start : start + DELETE_BATCH])
            batch = batch.using(queryset.db)
            _archive(list(batch.values_list(*ARCHIVED)), revert, actor, now)
            _, by_model = models.QuerySet.delete(batch)
            for label, count in by_model.items():
                deleted[label] = deleted.get(label, 0) + count
    return sum(deleted.values()), deleted


def _archive(rows: list[tuple], revert: FinalGradeRevert, actor: str, now: datetime) -> None:
    """Archive these final grades (ARCHIVED columns) under `revert`, each with its
    deletion audited."""
    insert_rows(
        ArchivedFinalGrade,
        [
            {
                "revert": revert.pk,
                "final_grade_id": final_grade_id,
                "user_id": user_id,
                "course_run_id": course_run_id,
                **_values(values),
                "created_on": created_on,
                "updated_on": updated_on,
            }
            for final_grade_id, user_id, course_run_id, *values, created_on, updated_on in rows
        ],
    )
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
                "revert": revert.pk,
            }
            for final_grade_id, user_id, course_run_id, *values, _, _ in rows
        ],
    )


class RestoreRefused(Exception):
    """A revert that cannot be restored; says why. Nothing was written."""


def restore_archived(revert: FinalGradeRevert) -> list[int]:
    """Put the final grades archived under `revert` back exactly (same id, values and
    dates), a `restored` audit row each; returns the ids of their course runs.

    Refused when the revert was restored already or a learner has a final grade in the
    run again (frozen since): one learner can have only one.
    """
    with transaction.atomic():
        revert = FinalGradeRevert.objects.select_for_update().get(pk=revert.pk)
        if revert.restored_on is not None:
            raise RestoreRefused(
                f"Revert {revert.pk} was already restored on "
                f"{revert.restored_on:%Y-%m-%d %H:%M} UTC by {revert.restored_by}."
            )
        archived = ArchivedFinalGrade.objects.filter(revert=revert)
        frozen_again = FinalGrade.objects.filter(
            models.Exists(
                archived.filter(
                    user_id=models.OuterRef("user_id"),
                    course_run_id=models.OuterRef("course_run_id"),
                )
            )
        )
        again = frozen_again.count()
        if again:
            raise RestoreRefused(
                f"{again} learner(s) of revert {revert.pk} have been frozen again since "
                "(e.g. user id "
                f"{frozen_again.order_by('user_id').values_list('user_id', flat=True).first()}): "
                "revert those final grades first to restore this one."
            )
        fields = (
            "final_grade_id",
            "user_id",
            "course_run_id",
            *AUDITED,
            "created_on",
            "updated_on",
        )
        rows = list(archived.order_by("final_grade_id").values_list(*fields))
        insert_rows(
            FinalGrade,
            [
                {
                    "id": final_grade_id,
                    "user": user_id,
                    "course_run": course_run_id,
                    **_values(values),
                    "created_on": created_on,
                    "updated_on": updated_on,
                }
                for final_grade_id, user_id, course_run_id, *values, created_on, updated_on in rows
            ],
        )
        now, actor = timezone.now(), current_actor()
        insert_rows(
            FinalGradeAudit,
            [
                {
                    "final_grade_id": final_grade_id,
                    "user_id": user_id,
                    "course_run_id": course_run_id,
                    "action": FinalGradeAudit.RESTORED,
                    "actor": actor,
                    "acted_on": now,
                    "before": None,
                    "after": _values(values),
                    "revert": revert.pk,
                }
                for final_grade_id, user_id, course_run_id, *values, _, _ in rows
            ],
        )
        revert.restored_on, revert.restored_by = now, actor
        revert.save(update_fields=["restored_on", "restored_by"])
        return sorted({row[2] for row in rows})
