"""Why a learner has (or has not) the final grade they have in a run: everything the
platform knows of them, as sections of lines that the command prints and the page shows.

Read-only, except that `live` reads edX with the learner's token, which refreshes and
saves it when due (edX rotates it on every refresh).
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from courses.models import CourseRun
from dashboard.api import EdxRefreshError, cached_records, edx_link_state, read_live
from grades.models import CourseRunGradingStatus, FinalGrade, FinalGradeAudit, FreezeFailure
from grades.policy import FinalGradeError, compute_final_grade, explain_final_grade


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[str]


def _age(refreshed_on: datetime) -> str:
    seconds = int((timezone.now() - refreshed_on).total_seconds())
    return (
        f"read {refreshed_on:%Y-%m-%d %H:%M:%S} UTC, {seconds // 3600}h {seconds % 3600 // 60}m ago"
    )


def _record(value: object) -> str:
    return "none" if value is None else json.dumps(value, sort_keys=True)


def _policy_lines(
    course_run: CourseRun, current_grade: object, certificate: object, enrollment: object
) -> list[str]:
    try:
        values = compute_final_grade(course_run.has_exam, current_grade, certificate, enrollment)
    except FinalGradeError as error:
        return [f"no final grade can be computed: {error.reason}"]
    return [
        *explain_final_grade(course_run.has_exam, current_grade, certificate, enrollment),
        f"gives: grade {values.grade:.4f}, passed {values.passed}, paid {values.paid}",
    ]


def diagnose(user: User, course_run: CourseRun, live: bool = False) -> list[Section]:
    """The learner in the run: edX link, cache, edX now (if `live`), policy, final grade,
    failures and audit."""
    link = edx_link_state(user)
    if not link.linked:
        link_lines = ["not linked to edX: the learner must log in to the platform with edX"]
    elif link.unreadable:
        link_lines = [
            f"edX username {link.edx_username!r}",
            f"tokens unreadable: {link.unreadable}",
        ]
    else:
        expiry = (
            f"{'expired' if link.expired else 'expires'} {link.expires_at:%Y-%m-%d %H:%M} UTC"
            if link.expires_at
            else "expiry unknown (refreshed before use)"
        )
        link_lines = [
            f"edX username {link.edx_username!r}",
            f"access token {'present' if link.has_access_token else 'MISSING'}, {expiry}",
            f"refresh token {'present' if link.has_refresh_token else 'MISSING'}",
        ]
    sections = [
        Section(
            f"Learner {user.username} ({user.email or 'no email'}) in {course_run.edx_course_key}",
            link_lines,
        )
    ]
    cached = cached_records(user, course_run)
    cache_lines = []
    for name, record in cached.items():
        if record is None:
            cache_lines.append(f"{name}: none")
        else:
            cache_lines.append(f"{name}: {_record(record.data)} ({_age(record.refreshed_on)})")
    sections.append(Section("Cached edX data", cache_lines))

    def data(name: str) -> object:
        record = cached[name]
        return None if record is None else record.data

    sections.append(
        Section(
            "Policy on the cached data",
            _policy_lines(
                course_run, data("current_grade"), data("certificate"), data("enrollment")
            ),
        )
    )
    if live:
        answer = read_live(user, course_run)
        if isinstance(answer, EdxRefreshError):
            sections.append(Section("edX now", [f"could not be read: {answer}"]))
        else:
            grade_data = answer.grades[course_run.pk]
            enrollment = answer.enrollments.get(course_run.pk)
            sections.append(
                Section(
                    "edX now",
                    [
                        f"enrollment: {_record(enrollment)}",
                        f"certificate: {_record(grade_data.certificate_read)}",
                        f"current_grade: {_record(grade_data.current_grade)}",
                        *_policy_lines(
                            course_run,
                            grade_data.current_grade,
                            grade_data.certificate_read,
                            enrollment,
                        ),
                    ],
                )
            )
    final_grade = FinalGrade.objects.filter(user=user, course_run=course_run).first()
    sections.append(
        Section(
            "Final grade",
            [
                f"grade {final_grade.grade:.4f}, passed {final_grade.passed}, "
                f"paid {final_grade.paid}, frozen {final_grade.created_on:%Y-%m-%d %H:%M} UTC"
                if final_grade
                else "none frozen"
            ],
        )
    )
    grading_status = CourseRunGradingStatus.objects.filter(course_run=course_run).first()
    failures = FreezeFailure.objects.filter(grading_status=grading_status, user=user)
    sections.append(
        Section(
            "Failures",
            [
                f"{failure.stage}: {failure.reason}"
                + (f" (HTTP {failure.http_status})" if failure.http_status else "")
                + f" on {failure.failed_on:%Y-%m-%d %H:%M} UTC"
                for failure in failures
            ]
            or ["none in this freeze"],
        )
    )
    audit = FinalGradeAudit.objects.filter(user_id=user.pk, course_run_id=course_run.pk)
    sections.append(
        Section(
            "Audit",
            [
                f"{row.acted_on:%Y-%m-%d %H:%M:%S} {row.action} by {row.actor}: "
                f"{_record(row.before)} -> {_record(row.after)}"
                + (f" (revert {row.revert_id})" if row.revert_id else "")
                for row in audit.order_by("acted_on", "id")
            ]
            or ["nothing recorded"],
        )
    )
    return sections
