"""The operators' pages (under /ops/): runs with live progress, one run with its failures,
rounds and audit and the actions on it, one learner's diagnosis.

Thin: they read through selectors and act through the operator verbs of `grades.api`,
acting as the staff user, so what a page does is what the command does, refused with the
same message. Pages need a staff account; actions the `grades.freeze_final_grades`
permission. Every action is a POST (CSRF) from a page that asks for confirmation.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from courses.models import CourseRun
from grades import api, tasks
from grades.audit import acting_as
from grades.diagnosis import diagnose
from grades.export import export_lines
from grades.models import (
    CourseRunGradingStatus,
    FinalGradeAudit,
    FinalGradeRevert,
    FreezeAction,
    FreezeFailure,
)
from grades.selectors import status_document

ACTION_PERMISSION = "grades.freeze_final_grades"
AUDIT_ROWS = 50
FAILED_LEARNERS_SHOWN = 200

View = Callable[..., HttpResponseBase]


def staff_only(view: View) -> View:
    """Anonymous: to the staff login. Signed in without staff status: 403."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("The operations pages are for staff only.")
        return view(request, *args, **kwargs)

    return checked


def staff_actor(request: HttpRequest) -> str:
    """How the audit names a staff user acting from a page or the API."""
    return f"staff {request.user.get_username()}"


@require_GET
@staff_only
def course_runs(request: HttpRequest) -> HttpResponse:
    runs = CourseRun.objects.select_related("course", "grading_status").order_by(
        "-freeze_grade_date", "edx_course_key"
    )
    rows = [(run, status_document(run, api.freeze_status(run))) for run in runs]
    return render(request, "grades/course_runs.html", {"rows": rows})


@require_GET
@staff_only
def progress(request: HttpRequest) -> JsonResponse:
    """Every run's status, for the list's live bars."""
    runs = CourseRun.objects.select_related("course").order_by("pk")
    return JsonResponse(
        {"course_runs": {run.pk: status_document(run, api.freeze_status(run)) for run in runs}}
    )


@require_GET
@staff_only
def course_run_status(request: HttpRequest, pk: int) -> JsonResponse:
    course_run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    return JsonResponse(status_document(course_run, api.freeze_status(course_run)))


def failures_by_reason(course_run: CourseRun) -> list[dict]:
    """The run's failures grouped by stage and reason, each with its learners."""
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    if grading_status is None:
        return []
    failures = grading_status.failures.exclude(
        user_id__in=course_run.finalgrade_set.values("user_id")
    )
    groups = []
    for group in (
        failures.values("stage", "reason", "http_status")
        .annotate(count=Count("id"))
        .order_by("-count", "stage", "reason")
    ):
        learners = (
            FreezeFailure.objects.filter(
                pk__in=failures.filter(
                    stage=group["stage"],
                    reason=group["reason"],
                    http_status=group["http_status"],
                ).values("pk")
            )
            .select_related("user")
            .order_by("user__username")[:FAILED_LEARNERS_SHOWN]
        )
        groups.append({**group, "learners": learners})
    return groups


@require_GET
@staff_only
def course_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    status = api.freeze_status(run)
    grading_status = CourseRunGradingStatus.objects.filter(course_run=run).first()
    context = {
        "run": run,
        "status": status_document(run, status),
        "grading_status": grading_status,
        "failure_groups": failures_by_reason(run),
        "actions": FreezeAction.objects.filter(course_run=run).order_by("-acted_on", "-pk")[
            :AUDIT_ROWS
        ],
        "audit": FinalGradeAudit.objects.filter(course_run_id=run.pk).order_by("-acted_on", "-pk")[
            :AUDIT_ROWS
        ],
        "reverts": FinalGradeRevert.objects.filter(final_grades__course_run_id=run.pk)
        .annotate(final_grade_count=Count("final_grades"))
        .order_by("-pk"),
        "can_act": request.user.has_perm(ACTION_PERMISSION),
    }
    return render(request, "grades/course_run.html", context)


@require_GET
@staff_only
def final_grades_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    run = get_object_or_404(CourseRun, pk=pk)
    response = StreamingHttpResponse(export_lines(run, "csv"), content_type="text/csv")
    filename = "".join(c if c.isalnum() or c in "+-_." else "_" for c in run.edx_course_key)
    response["Content-Disposition"] = f'attachment; filename="final-grades-{filename}.csv"'
    return response


@require_GET
@staff_only
def learner(request: HttpRequest, pk: int, username: str) -> HttpResponse:
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    user = get_object_or_404(get_user_model(), username=username)
    live = request.GET.get("live") == "1"
    sections = diagnose(user, run, live=live)
    return render(
        request,
        "grades/learner.html",
        {"run": run, "learner": user, "sections": sections, "live": live},
    )


# Actions: each asks first (GET), acts on POST.

ACTIONS = {
    "freeze": (
        "Freeze",
        "Start (or go on with) the freeze of this run: its learners are read from edX and "
        "their final grades stored once.",
    ),
    "retry": (
        "Retry failed learners",
        "Send a new round made of exactly the learners recorded as failed.",
    ),
    "complete": (
        "Complete by hand",
        "Mark the freeze complete, learners left or not. It does not freeze them.",
    ),
    "revert": (
        "Revert",
        "Delete the run's final grades, grading status and failures. Every row is archived "
        "first under a revert id, from which it can be restored.",
    ),
}


def _act(request: HttpRequest, run: CourseRun, action: str) -> str:
    """Do the action as the staff user; returns what to tell them. Raises api.Refused."""
    with acting_as(staff_actor(request)):
        if action == "freeze":
            api.start_freeze(run, lambda course_run: tasks.freeze_course_run.delay(course_run.pk))
            return f"Started the freeze of {run.edx_course_key}."
        if action == "retry":
            freeze_round = api.retry_failed(run, tasks.send_chunks)
            learners = sum(len(chunk) for chunk in freeze_round.chunks)
            return f"Retrying {learners} failed learners of {run.edx_course_key}."
        if action == "complete":
            left = api.complete_by_hand(run)
            return f"Marked the freeze of {run.edx_course_key} complete ({left} learners left)."
        done = api.revert_course_run(run)
        return (
            f"Reverted {done.final_grades} final grades, {done.statuses} grading status and "
            f"{done.failures} failures of {run.edx_course_key}: revert id {done.revert_id}."
        )


@require_http_methods(["GET", "POST"])
@staff_only
def course_run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("No such action.")
    if not request.user.has_perm(ACTION_PERMISSION):
        raise PermissionDenied("You may read the freeze but not act on it.")
    run = get_object_or_404(CourseRun.objects.select_related("course"), pk=pk)
    if request.method == "POST":
        try:
            messages.success(request, _act(request, run, action))
        except api.Refused as refused:
            messages.error(request, f"Refused: {refused}")
        return redirect("grades:course_run", pk=run.pk)
    title, explanation = ACTIONS[action]
    context = {
        "run": run,
        "action": action,
        "title": title,
        "explanation": explanation,
        "status": status_document(run, api.freeze_status(run)),
        "plan": api.revert_plan(run) if action == "revert" else None,
    }
    return render(request, "grades/confirm.html", context)


@require_http_methods(["GET", "POST"])
@staff_only
def restore(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm(ACTION_PERMISSION):
        raise PermissionDenied("You may read the freeze but not act on it.")
    revert = get_object_or_404(FinalGradeRevert, pk=pk)
    runs = CourseRun.objects.filter(
        pk__in=revert.final_grades.values("course_run_id")
    ) | CourseRun.objects.filter(
        pk__in=[state["course_run_id"] for state in revert.grading_statuses]
    )
    back = runs.order_by("pk").first()
    if request.method == "POST":
        try:
            with acting_as(staff_actor(request)):
                restored = api.restore_revert(revert)
            keys = ", ".join(run.edx_course_key for run in restored)
            messages.success(request, f"Restored revert {revert.pk} ({keys}).")
        except api.Refused as refused:
            messages.error(request, f"Refused: {refused}")
        if back is None:
            return redirect("grades:course_runs")
        return redirect("grades:course_run", pk=back.pk)
    context = {
        "revert": revert,
        "runs": runs.distinct().order_by("pk"),
        "count": revert.final_grades.count(),
        "back": back,
    }
    return render(request, "grades/restore.html", context)
