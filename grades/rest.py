"""The REST API of final grades (under /api/): staff only, token or session authentication.

Course runs with their freeze status; a run's final grades (cursor pages, by learner),
failures, audit and export; the actions freeze, retry, complete and revert, and the
restore of a revert, which answer 409 with the commands' message where they refuse.
Every error is JSON: {"detail": "..."}.
"""

from typing import Any

from django.db.models import Count, QuerySet
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import exceptions, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler

from courses.models import CourseRun
from grades import api, tasks
from grades.audit import acting_as
from grades.export import FORMATS, export_lines
from grades.models import FinalGrade, FinalGradeAudit, FinalGradeRevert, FreezeFailure
from grades.selectors import has_final_grade, status_document
from grades.serializers import (
    ActionDoneSerializer,
    AuditSerializer,
    CourseRunSerializer,
    ErrorSerializer,
    ExportRowSerializer,
    FailureSerializer,
    FinalGradeSerializer,
    RefusalSerializer,
    RevertDoneSerializer,
    RevertRequestSerializer,
    RevertSerializer,
)
from grades.views import ACTION_PERMISSION, staff_actor

ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="not signed in"),
    403: OpenApiResponse(ErrorSerializer, description="not staff, or not allowed to act"),
    404: OpenApiResponse(ErrorSerializer, description="no such course run or revert"),
}
REFUSED = {409: OpenApiResponse(RefusalSerializer, description="refused as the run stands")}
ID = r"[0-9]+"


class MayFreeze(permissions.BasePermission):
    message = "You may read the freeze but not act on it (grades.freeze_final_grades)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm(ACTION_PERMISSION))


class ByIdCursor(CursorPagination):
    ordering = "id"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


def json_errors(error: Exception, context: dict) -> Response | None:
    """DRF's handler, with every error a {"detail": message} a person can read."""
    response = exception_handler(error, context)
    if response is not None and isinstance(error, exceptions.ValidationError):
        response.data = {"detail": _validation_message(error.detail), "errors": response.data}
    return response


def _validation_message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_validation_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_validation_message(item) for item in detail)
    return str(detail)


def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Anything under /api/ that is no endpoint."""
    return JsonResponse({"detail": "No such API endpoint: see /api/docs/."}, status=404)


def _refused(refused: api.Refused) -> Response:
    return Response(
        {"detail": str(refused), "outcome": str(refused.outcome)}, status=status.HTTP_409_CONFLICT
    )


@extend_schema_view(retrieve=extend_schema(responses={200: CourseRunSerializer, **ERRORS}))
class CourseRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Course runs, each with its freeze status."""

    serializer_class = CourseRunSerializer
    lookup_value_regex = ID

    def get_queryset(self) -> QuerySet:
        runs = CourseRun.objects.select_related("course").order_by("pk")
        key = self.request.query_params.get("edx_course_key")
        if key is not None:
            runs = runs.filter(edx_course_key=key.replace("\x00", ""))
        return runs

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            runs = args[0] if kwargs.get("many") else [args[0]]
            for run in runs:
                run.status_document = status_document(run, api.freeze_status(run))
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("edx_course_key", str, description="only the run with this key")
        ],
        responses={200: CourseRunSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[OpenApiParameter("username", str, description="only this learner's")],
        responses={200: FinalGradeSerializer(many=True), **ERRORS},
    )
    @action(detail=True, url_path="final-grades", pagination_class=ByIdCursor)
    def final_grades(self, request: Request, pk: str) -> Response:
        """The run's final grades, in cursor pages."""
        run = self.get_object()
        final_grades = FinalGrade.objects.filter(course_run=run).select_related("user")
        username = request.query_params.get("username")
        if username is not None:
            final_grades = final_grades.filter(user__username=username.replace("\x00", ""))
        return self._page(final_grades, FinalGradeSerializer)

    @extend_schema(responses={200: FailureSerializer(many=True), **ERRORS})
    @action(detail=True, pagination_class=ByIdCursor)
    def failures(self, request: Request, pk: str) -> Response:
        """Learners whose freeze failed in the run's freeze (and are not frozen since)."""
        run = self.get_object()
        failures = (
            FreezeFailure.objects.filter(grading_status__course_run=run)
            .filter(~has_final_grade(run, "user_id"))
            .select_related("user")
        )
        return self._page(failures, FailureSerializer)

    @extend_schema(responses={200: AuditSerializer(many=True), **ERRORS})
    @action(detail=True, pagination_class=ByIdCursor)
    def audit(self, request: Request, pk: str) -> Response:
        """Every create, change, delete and restore of the run's final grades."""
        run = self.get_object()
        return self._page(FinalGradeAudit.objects.filter(course_run_id=run.pk), AuditSerializer)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "file_format", str, enum=[*FORMATS], description="csv (default) or json"
            )
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): ExportRowSerializer(many=True),
            **ERRORS,
        },
    )
    @action(detail=True, url_path="final-grades/export")
    def export(self, request: Request, pk: str) -> StreamingHttpResponse | Response:
        """Every final grade of the run as a file (streamed): CSV or a JSON array."""
        run = self.get_object()
        file_format = request.query_params.get("file_format", "csv")
        if file_format not in FORMATS:
            raise exceptions.ValidationError({"file_format": "must be csv or json"})
        content_type = "text/csv" if file_format == "csv" else "application/json"
        response = StreamingHttpResponse(export_lines(run, file_format), content_type=content_type)
        response["Content-Disposition"] = (
            f'attachment; filename="final-grades-{run.pk}.{file_format}"'
        )
        return response

    def _page(self, queryset: QuerySet, serializer: type) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer(page, many=True).data)

    # Actions

    def _done(self, run: CourseRun, detail: str, code: int = status.HTTP_202_ACCEPTED) -> Response:
        return Response(
            {"detail": detail, "freeze_status": status_document(run, api.freeze_status(run))},
            status=code,
        )

    @extend_schema(request=None, responses={202: ActionDoneSerializer, **REFUSED, **ERRORS})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser, MayFreeze])
    def freeze(self, request: Request, pk: str) -> Response:
        """Start (or go on with) the freeze of the run, as freeze_final_grades does."""
        run = self.get_object()
        try:
            with acting_as(staff_actor(request)):
                api.start_freeze(
                    run, lambda course_run: tasks.freeze_course_run.delay(course_run.pk)
                )
        except api.Refused as refused:
            return _refused(refused)
        return self._done(run, f"Started the freeze of {run.edx_course_key}.")

    @extend_schema(request=None, responses={202: ActionDoneSerializer, **REFUSED, **ERRORS})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser, MayFreeze])
    def retry(self, request: Request, pk: str) -> Response:
        """Retry the run's failed learners, as retry_failed_final_grades does."""
        run = self.get_object()
        try:
            with acting_as(staff_actor(request)):
                freeze_round = api.retry_failed(run, tasks.send_chunks)
        except api.Refused as refused:
            return _refused(refused)
        learners = sum(len(chunk) for chunk in freeze_round.chunks)
        return self._done(run, f"Retrying {learners} failed learners of {run.edx_course_key}.")

    @extend_schema(request=None, responses={200: ActionDoneSerializer, **REFUSED, **ERRORS})
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser, MayFreeze])
    def complete(self, request: Request, pk: str) -> Response:
        """Mark the freeze complete by hand, as complete_course_run_freeze does."""
        run = self.get_object()
        try:
            with acting_as(staff_actor(request)):
                left = api.complete_by_hand(run)
        except api.Refused as refused:
            return _refused(refused)
        return self._done(
            run,
            f"Marked the freeze of {run.edx_course_key} complete ({left} learners left).",
            status.HTTP_200_OK,
        )

    @extend_schema(
        request=RevertRequestSerializer,
        responses={200: RevertDoneSerializer, 400: ErrorSerializer, **REFUSED, **ERRORS},
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser, MayFreeze])
    def revert(self, request: Request, pk: str) -> Response:
        """Revert the run (archived under a revert id), as revert_final_grades --yes does;
        with dry_run, say what it would delete."""
        run = self.get_object()
        asked = RevertRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        if asked.validated_data["dry_run"]:
            plan = api.revert_plan(run)
            detail = f"Would revert {run.edx_course_key} (dry run: nothing changed)."
        else:
            try:
                with acting_as(staff_actor(request)):
                    plan = api.revert_course_run(run)
            except api.Refused as refused:
                return _refused(refused)
            detail = f"Reverted {run.edx_course_key}: revert id {plan.revert_id}."
        return Response(
            {
                "detail": detail,
                "final_grades": plan.final_grades,
                "statuses": plan.statuses,
                "failures": plan.failures,
                "revert_id": plan.revert_id,
            }
        )


@extend_schema_view(
    list=extend_schema(responses={200: RevertSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(responses={200: RevertSerializer, **ERRORS}),
)
class RevertViewSet(viewsets.ReadOnlyModelViewSet):
    """Reverts: what each deleted is archived under it, to be restored."""

    serializer_class = RevertSerializer
    lookup_value_regex = ID

    def get_queryset(self) -> QuerySet:
        return FinalGradeRevert.objects.annotate(final_grade_count=Count("final_grades")).order_by(
            "-pk"
        )

    @extend_schema(
        request=None, responses={200: ActionDoneSerializer(many=True), **REFUSED, **ERRORS}
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser, MayFreeze])
    def restore(self, request: Request, pk: str) -> Response:
        """Put back what the revert deleted, as restore_final_grades does."""
        revert = self.get_object()
        try:
            with acting_as(staff_actor(request)):
                runs = api.restore_revert(revert)
        except api.Refused as refused:
            return _refused(refused)
        return Response(
            [
                {
                    "detail": f"Restored revert {revert.pk} in {run.edx_course_key}.",
                    "freeze_status": status_document(run, api.freeze_status(run)),
                }
                for run in runs
            ]
        )


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI (from drf-spectacular-sidecar, no CDN), staff only; refusals in JSON."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
            response["Content-Type"] = "application/json"
        return response
