"""The learner site: what the platform is, sign in with edX, their own final grades."""

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from learners.selectors import edx_refused_tokens, my_course_runs


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "learners/home.html")


@login_required
def final_grades(request: HttpRequest) -> HttpResponse:
    """The signed-in learner's runs and final grades; only ever their own."""
    return render(
        request,
        "learners/final_grades.html",
        {
            "course_runs": my_course_runs(request.user),  # type: ignore[arg-type]
            "relink": edx_refused_tokens(request.user),  # type: ignore[arg-type]
        },
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("learners:home")
