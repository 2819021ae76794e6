"""The audit of final grades: every create, change and delete is recorded with its actor.

Signals cover every path through the ORM, including a queryset's `delete()` typed
in a shell. Code that acts for someone names them with `acting_as`; otherwise
the actor is the process (command and OS user).
"""

import contextlib
import getpass
import os
import sys
from contextvars import ContextVar

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

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
    return f"{command} as {getpass.getuser()}"[:255]


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
