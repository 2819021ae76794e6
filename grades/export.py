"""The frozen final grades of a run, out of the system for registrars and other services.

Streamed: rows come from a database cursor (`.iterator()`) and leave as lines, so a run
of 100,000 learners costs the memory of one batch, whatever its size.
"""

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import OuterRef, Subquery
from social_django.models import UserSocialAuth

from courses.models import CourseRun
from dashboard.api import EDX_PROVIDER
from grades.models import FinalGrade

COLUMNS = ("username", "email", "edx_username", "grade", "passed", "paid", "frozen_on")
FORMATS = ("csv", "json")
BATCH = 2000

Row = tuple[str, str, str, float, bool, bool, str]


def final_grade_rows(course_run: CourseRun, username: str | None = None) -> Iterator[Row]:
    """(username, email, edX username, grade, passed, paid, frozen on) of each final grade
    of the run, in the order they were frozen."""
    edx_username = UserSocialAuth.objects.filter(
        provider=EDX_PROVIDER, user_id=OuterRef("user_id")
    ).values("uid")[:1]
    final_grades = FinalGrade.objects.filter(course_run=course_run)
    if username is not None:
        final_grades = final_grades.filter(user__username=username)
    rows = (
        final_grades.order_by("id")
        .annotate(edx_username=Subquery(edx_username))
        .values_list(
            "user__username", "user__email", "edx_username", "grade", "passed", "paid", "created_on"
        )
    )
    for name, email, edx, grade, passed, paid, frozen_on in rows.iterator(chunk_size=BATCH):
        yield name, email, edx or "", grade, bool(passed), bool(paid), frozen_on.isoformat()


def csv_lines(rows: Iterator[Row]) -> Iterator[str]:
    """A header line, then a line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield _drain(buffer)
    yield _drain(buffer)


def json_lines(rows: Iterator[Row]) -> Iterator[str]:
    """A JSON array of objects keyed by COLUMNS, an object a line."""
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(dict(zip(COLUMNS, row, strict=True)))
        separator = ",\n"
    yield "\n]\n"


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def export_lines(course_run: CourseRun, output_format: str) -> Iterator[str]:
    rows = final_grade_rows(course_run)
    return csv_lines(rows) if output_format == "csv" else json_lines(rows)
