"""Frozen final grades, the freeze state of each course run, its failures and the audit."""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

from courses.models import CourseRun
from dashboard.failures import Stage

__all__ = [
    "Chunk",
    "ArchivedFinalGrade",
    "CourseRun",
    "CourseRunGradingStatus",
    "FinalGrade",
    "FinalGradeAudit",
    "FinalGradeRevert",
    "FreezeAction",
    "FreezeFailure",
]


class RevertibleQuerySet(models.QuerySet):
    """A queryset whose delete() keeps every row it deletes under a revert, so that
    `restore_final_grades` can put them back: the runbook's revert is typed in a shell."""

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with delete().")
        return self.delete_revertibly()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def delete_revertibly(self) -> tuple[int, dict[str, int]]:
        raise NotImplementedError


class FinalGradeQuerySet(RevertibleQuerySet):
    """Bulk writes skip the model's signals, so they audit themselves or are refused.

    A queryset's delete() (the runbook's revert) audits every row it deletes in one
    statement instead of a signal per row: 100,000 grades revert in seconds.
    """

    def update(self, **kwargs: Any) -> int:
        from grades.audit import audited_update

        return audited_update(self, kwargs, super().update)

    def delete_revertibly(self) -> tuple[int, dict[str, int]]:
        from grades.audit import audited_delete

        return audited_delete(self)

    def bulk_create(self, objs: Iterable["FinalGrade"], *args: Any, **kwargs: Any) -> list:
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            raise NotImplementedError(
                "bulk_create of final grades with ignore_conflicts or update_conflicts "
                "cannot tell which rows it wrote, so it cannot audit them"
            )
        from grades.audit import audit_created

        with transaction.atomic():
            created = super().bulk_create(objs, *args, **kwargs)
            audit_created(created)
        return created


class FinalGrade(models.Model):
    """A learner's grade in a course run, taken from edX once at the freeze and kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    course_run = models.ForeignKey(CourseRun, on_delete=models.PROTECT)
    grade = models.FloatField(help_text="edX's percent, from 0 to 1.")
    passed = models.BooleanField()
    paid = models.BooleanField(help_text="Paid on edX (verified or honor).")
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    # The values a freeze takes from edX: what the audit records before and after.
    AUDITED_FIELDS = ("grade", "passed", "paid")

    objects = FinalGradeQuerySet.as_manager()

    class Meta:
        permissions = [
            (
                "freeze_final_grades",
                "Can freeze, retry, complete, revert and restore the final grades of a run",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "course_run"], name="finalgrade_one_per_user_course_run"
            ),
            models.CheckConstraint(
                condition=Q(grade__gte=0) & Q(grade__lte=1), name="finalgrade_grade_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.course_run}: {self.grade:.2f} passed={self.passed}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():  # the row and its audit, or neither
            super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        # Archived and audited as a queryset delete is, rather than by a delete signal: a
        # model with delete signals makes every queryset delete() fetch and signal row by
        # row (minutes for a revert).
        deleted = FinalGrade.objects.filter(pk=self.pk).delete()
        self.pk = None
        return deleted


class CourseRunGradingStatusQuerySet(RevertibleQuerySet):
    def delete_revertibly(self) -> tuple[int, dict[str, int]]:
        from grades.rounds import discard_statuses

        return discard_statuses(self)


class CourseRunGradingStatus(models.Model):
    """Where the freeze of a course run stands; its failures are this freeze's.

    The freeze goes in rounds. A round is numbered; its chunks are known from the start
    (a per-learner round: chunks of user ids) or as the run's grade pages are listed (a
    course-wide round). Only `grades.rounds` changes these fields.
    """

    PENDING = "pending"
    COMPLETE = "complete"
    STATUS_CHOICES = [(PENDING, "pending"), (COMPLETE, "complete")]

    course_run = models.OneToOneField(
        CourseRun, on_delete=models.CASCADE, related_name="grading_status"
    )
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=PENDING)
    started_on = models.DateTimeField(auto_now_add=True)
    completed_on = models.DateTimeField(null=True, blank=True)
    # How this freeze reads the LMS (the run's mode when it started).
    mode = models.CharField(max_length=16, blank=True)
    # The current round: its number, how it reads the LMS, and its chunks. A chunk
    # records its deliveries and heartbeats in its Chunk row; one that finishes bumps
    # chunks_done, and the one that makes it equal to chunks_total, once the round is
    # listed, reconciles.
    round = models.PositiveIntegerField(default=0)
    round_mode = models.CharField(max_length=16, blank=True)
    listed = models.BooleanField(default=True, help_text="Every chunk of the round is known.")
    population = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    round_started_on = models.DateTimeField(null=True, blank=True)
    # A course-wide round's listing: its last heartbeat (null until it starts).
    listing_beat_on = models.DateTimeField(null=True, blank=True)
    # A course-wide round has listed every grade page of the run and frozen them all.
    fully_listed = models.BooleanField(default=False)

    objects = CourseRunGradingStatusQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "course run grading statuses"
        constraints = [
            models.CheckConstraint(
                condition=Q(status="complete", completed_on__isnull=False)
                | Q(status="pending", completed_on__isnull=True),
                name="gradingstatus_completed_on_iff_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course_run}: {self.status}"

    @property
    def is_complete(self) -> bool:
        return self.status == self.COMPLETE


class FreezeFailure(models.Model):
    """A learner whose final grade could not be frozen in this round, and why."""

    grading_status = models.ForeignKey(
        CourseRunGradingStatus, on_delete=models.CASCADE, related_name="failures"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    stage = models.CharField(max_length=32, choices=Stage.choices)
    reason = models.CharField(max_length=255)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    failed_on = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grading_status", "user"], name="freezefailure_one_per_user_round"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.stage}: {self.reason}"


class Chunk(models.Model):
    """A chunk of a freeze round (a chunk of learners, or a page of a course-wide round),
    from its first delivery to a worker: how often it was delivered, when it last showed
    it was alive, and when it finished.

    A chunk is running while its heartbeat is fresh (`rounds.heartbeat_timeout`); one
    delivered too often without finishing (its worker died each time) is given up.
    A chunk delivered again after it finished is not counted again.
    """

    grading_status = models.ForeignKey(
        CourseRunGradingStatus, on_delete=models.CASCADE, related_name="chunks"
    )
    round = models.PositiveIntegerField()
    index = models.PositiveIntegerField()
    deliveries = models.PositiveIntegerField(default=0)
    beat_on = models.DateTimeField(null=True, blank=True)
    finished_on = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grading_status", "round", "index"], name="chunk_one_per_round_index"
            ),
        ]

    def __str__(self) -> str:
        return f"round {self.round} chunk {self.index} of {self.grading_status}"


class FinalGradeRevert(models.Model):
    """A delete of final grades or grading statuses, every row of which is archived under
    it to be restored.

    Whatever deletes them (the revert command, a page, the runbook's two shell lines)
    makes one. `grading_statuses` keeps the statuses and failures the revert discarded.
    """

    reverted_on = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=255)
    grading_statuses = models.JSONField(default=list, blank=True)
    restored_on = models.DateTimeField(null=True, blank=True)
    restored_by = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(restored_on__isnull=True, restored_by="")
                | Q(restored_on__isnull=False) & ~Q(restored_by=""),
                name="finalgraderevert_restored_by_iff_restored",
            ),
        ]

    def __str__(self) -> str:
        return f"revert {self.pk} by {self.actor}"


class ArchivedFinalGrade(models.Model):
    """A final grade as it was when a revert deleted it: every column, to put it back."""

    revert = models.ForeignKey(
        FinalGradeRevert, on_delete=models.PROTECT, related_name="final_grades"
    )
    final_grade_id = models.BigIntegerField()
    user_id = models.BigIntegerField(db_index=True)
    course_run_id = models.BigIntegerField(db_index=True)
    grade = models.FloatField()
    passed = models.BooleanField()
    paid = models.BooleanField()
    created_on = models.DateTimeField()
    updated_on = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["revert", "final_grade_id"], name="archivedfinalgrade_once_per_revert"
            ),
        ]

    def __str__(self) -> str:
        return f"final grade {self.final_grade_id} of revert {self.revert_id}"


class FinalGradeAudit(models.Model):
    """Every create, change, delete and restore of a FinalGrade: who or what, when, before
    and after; a delete or restore names its revert."""

    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"
    RESTORED = "restored"
    ACTION_CHOICES = [
        (CREATED, "created"),
        (CHANGED, "changed"),
        (DELETED, "deleted"),
        (RESTORED, "restored"),
    ]

    final_grade_id = models.BigIntegerField(db_index=True)
    user_id = models.BigIntegerField(db_index=True)
    course_run_id = models.BigIntegerField(db_index=True)
    action = models.CharField(max_length=16, choices=ACTION_CHOICES)
    actor = models.CharField(max_length=255)
    acted_on = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    revert = models.ForeignKey(
        FinalGradeRevert, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.action} final grade {self.final_grade_id} by {self.actor}"


class FreezeAction(models.Model):
    """What someone did to a run's freeze (from a page, the API or a command), and by whom.

    The final grades' own audit says what changed in each row; this says who started a
    freeze or a retry, completed one by hand, reverted or restored.
    """

    FREEZE = "freeze"
    RETRY = "retry"
    COMPLETE = "complete"
    REVERT = "revert"
    RESTORE = "restore"
    ACTION_CHOICES = [
        (FREEZE, "started a freeze"),
        (RETRY, "retried failed learners"),
        (COMPLETE, "completed by hand"),
        (REVERT, "reverted"),
        (RESTORE, "restored"),
    ]

    course_run = models.ForeignKey(
        CourseRun, on_delete=models.PROTECT, related_name="freeze_actions"
    )
    action = models.CharField(max_length=16, choices=ACTION_CHOICES)
    actor = models.CharField(max_length=255)
    acted_on = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.actor} {self.get_action_display()} {self.course_run}"
