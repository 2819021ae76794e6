"""Final grades, failures and the audit are read in the admin, never edited there."""

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from courses.models import CourseRun
from grades.models import (
    CourseRunGradingStatus,
    FinalGrade,
    FinalGradeAudit,
    FinalGradeRevert,
    FreezeAction,
    FreezeFailure,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FinalGrade)
class FinalGradeAdmin(ReadOnlyAdmin):
    list_display = ["user", "course_run", "grade", "passed", "paid", "created_on"]
    list_filter = ["course_run", "passed", "paid"]
    list_select_related = ["user", "course_run"]
    search_fields = ["user__username", "course_run__edx_course_key"]


@admin.register(CourseRunGradingStatus)
class CourseRunGradingStatusAdmin(ReadOnlyAdmin):
    list_display = ["course_run", "status", "mode", "started_on", "completed_on", "population"]
    list_filter = ["status"]
    search_fields = ["course_run__edx_course_key"]


@admin.register(FreezeFailure)
class FreezeFailureAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "course_run",
        "stage",
        "reason",
        "http_status",
        "failed_on",
        "frozen_since",
    ]
    list_filter = ["stage", "reason"]
    list_select_related = ["user", "grading_status__course_run"]
    search_fields = ["user__username", "grading_status__course_run__edx_course_key"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        frozen = FinalGrade.objects.filter(
            user=OuterRef("user"), course_run=OuterRef("grading_status__course_run")
        )
        return super().get_queryset(request).annotate(frozen_since=Exists(frozen))

    @admin.display(boolean=True, description="Frozen since", ordering="frozen_since")
    def frozen_since(self, failure: Any) -> bool:
        return failure.frozen_since

    @admin.display(ordering="grading_status__course_run")
    def course_run(self, failure: FreezeFailure) -> CourseRun:
        return failure.grading_status.course_run


@admin.register(FinalGradeAudit)
class FinalGradeAuditAdmin(ReadOnlyAdmin):
    list_display = ["acted_on", "action", "final_grade_id", "user_id", "course_run_id", "actor"]
    list_filter = ["action"]
    search_fields = ["actor", "=user_id", "=course_run_id", "=final_grade_id"]


@admin.register(FinalGradeRevert)
class FinalGradeRevertAdmin(ReadOnlyAdmin):
    list_display = ["id", "reverted_on", "actor", "restored_on", "restored_by"]
    search_fields = ["actor", "=id"]


@admin.register(FreezeAction)
class FreezeActionAdmin(ReadOnlyAdmin):
    list_display = ["acted_on", "course_run", "action", "actor", "detail"]
    list_filter = ["action"]
    list_select_related = ["course_run"]
    search_fields = ["actor", "course_run__edx_course_key"]
