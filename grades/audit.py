"""The audit of final grades: every create, change and delete is recorded with its actor.

Signals cover saves and deletes, including a queryset's `delete()` typed in a
shell; FinalGrade's queryset audits its own `update()`, `bulk_update()` and
`bulk_create()`. Raw SQL is not seen. Code that acts for someone names them with
`acting_as`; otherwise the actor is the process (command and OS user).
"""

import contextlib
import getpass
import os
import sys
from contextvars import ContextVar

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from gradefreeze.bulk_writes import insert_rows
from grades.models import FinalGrade, FinalGradeAudit

_actor = ContextVar("final_grade_actor", default=None)


@contextlib.contextmanager
def acting_as(actor):
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor():
    actor = _actor.get()
    if actor:
        return actor
    command = " ".join(os.path.basename(arg) for arg in sys.argv[:2]) or "python"
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        os_user = f"uid {os.getuid()}"
    return f"{command} as {os_user}"[:255]


def snapshot(final_grade):
    return {
        "grade": final_grade.grade,
        "passed": final_grade.passed,
        "paid": final_grade.paid,
    }


def audit_row(action, final_grade, before, after):
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
def remember_before(sender, instance, **kwargs):
    previous = None
    if instance.pk is not None:
        previous = FinalGrade.objects.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(previous) if previous else None


@receiver(post_save, sender=FinalGrade)
def audit_save(sender, instance, created, **kwargs):
    before = None if created else getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if not created and before == after:
        return
    action = FinalGradeAudit.CREATED if created else FinalGradeAudit.CHANGED
    audit_row(action, instance, before, after).save()


@receiver(post_delete, sender=FinalGrade)
def audit_delete(sender, instance, **kwargs):
    audit_row(FinalGradeAudit.DELETED, instance, snapshot(instance), None).save()


def audited_update(queryset, values, update):
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


def audit_created(final_grades):
    FinalGradeAudit.objects.bulk_create(
        audit_row(FinalGradeAudit.CREATED, final_grade, None, snapshot(final_grade))
        for final_grade in final_grades
    )


def insert_final_grades(course_run, values):
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
                    "grade": value.grade,
                    "passed": value.passed,
                    "paid": value.paid,
                    "created_on": now,
                    "updated_on": now,
                }
                for user_id, value in sorted(values.items())
            ],
            conflict=("user", "course_run"),
            returning=("id", "user_id", "grade", "passed", "paid"),
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
                    "after": {"grade": grade, "passed": bool(passed), "paid": bool(paid)},
                }
                for final_grade_id, user_id, grade, passed, paid in inserted
            ],
        )
        return len(inserted)


DELETE_BATCH = 10_000


def audited_delete(queryset):
    """Delete these final grades, auditing each deleted row; set-based, all or nothing."""
    with transaction.atomic(using=queryset.db):
        rows = list(
            queryset.select_for_update().values_list(
                "id", "user_id", "course_run_id", "grade", "passed", "paid"
            )
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
                    "before": {"grade": grade, "passed": passed, "paid": paid},
                    "after": None,
                }
                for final_grade_id, user_id, course_run_id, grade, passed, paid in rows
            ],
        )
        deleted = 0
        for start in range(0, len(rows), DELETE_BATCH):
            ids = [row[0] for row in rows[start : start + DELETE_BATCH]]
            deleted += FinalGrade.objects.filter(pk__in=ids)._raw_delete(queryset.db)
    return deleted, {FinalGrade._meta.label: deleted} if deleted else {}
