"""What the REST API says of course runs, final grades, failures, the audit and reverts."""

from rest_framework import serializers

from courses.models import CourseRun
from grades.models import FinalGrade, FinalGradeAudit, FinalGradeRevert, FreezeFailure


class ErrorSerializer(serializers.Serializer):
    """Every error: a message that says what went wrong."""

    detail = serializers.CharField()


class RefusalSerializer(ErrorSerializer):
    """An action the freeze refuses as the run stands (HTTP 409)."""

    outcome = serializers.CharField()


class FailureCountSerializer(serializers.Serializer):
    stage = serializers.CharField()
    reason = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField()


class FreezeStatusSerializer(serializers.Serializer):
    """grades.selectors.status_document: the facts check_final_grade_freeze_status prints."""

    edx_course_key = serializers.CharField()
    state = serializers.ChoiceField(
        choices=["not_started", "processing", "done_not_marked", "stalled", "complete"]
    )
    state_text = serializers.CharField()
    mode = serializers.CharField(allow_blank=True)
    frozen = serializers.IntegerField()
    failed = serializers.IntegerField()
    left = serializers.IntegerField()
    needed = serializers.IntegerField()
    chunks_done = serializers.IntegerField()
    chunks_total = serializers.IntegerField()
    failures_by_reason = FailureCountSerializer(many=True)


class CourseRunSerializer(serializers.ModelSerializer):
    course = serializers.CharField(source="course.title")
    has_exam = serializers.BooleanField()
    freeze_status = FreezeStatusSerializer(source="status_document")

    class Meta:
        model = CourseRun
        fields = [
            "id",
            "edx_course_key",
            "title",
            "course",
            "has_exam",
            "freeze_grade_date",
            "freeze_mode",
            "freeze_status",
        ]


class FinalGradeSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    frozen_on = serializers.DateTimeField(source="created_on")

    class Meta:
        model = FinalGrade
        fields = ["id", "user_id", "username", "email", "grade", "passed", "paid", "frozen_on"]


class ExportRowSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    edx_username = serializers.CharField(allow_blank=True)
    grade = serializers.FloatField()
    passed = serializers.BooleanField()
    paid = serializers.BooleanField()
    frozen_on = serializers.DateTimeField()


class FailureSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = FreezeFailure
        fields = ["id", "user_id", "username", "stage", "reason", "http_status", "failed_on"]


class AuditSerializer(serializers.ModelSerializer):
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)

    class Meta:
        model = FinalGradeAudit
        fields = [
            "id",
            "final_grade_id",
            "user_id",
            "course_run_id",
            "action",
            "actor",
            "acted_on",
            "before",
            "after",
            "revert_id",
        ]


class RevertSerializer(serializers.ModelSerializer):
    final_grades = serializers.IntegerField(source="final_grade_count")

    class Meta:
        model = FinalGradeRevert
        fields = ["id", "reverted_on", "actor", "final_grades", "restored_on", "restored_by"]


class ActionDoneSerializer(serializers.Serializer):
    detail = serializers.CharField()
    freeze_status = FreezeStatusSerializer()


class RevertRequestSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(
        default=False, help_text="say what would be deleted; write nothing"
    )


class RevertDoneSerializer(serializers.Serializer):
    detail = serializers.CharField()
    final_grades = serializers.IntegerField()
    statuses = serializers.IntegerField()
    failures = serializers.IntegerField()
    revert_id = serializers.IntegerField(allow_null=True)
