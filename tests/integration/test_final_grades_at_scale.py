"""100,000 final grades on PostgreSQL: the export streams them in flat memory, and a revert
and its restore stay set-based (seconds, not minutes)."""

import io
import time
import tracemalloc

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from grades.audit import insert_final_grades
from grades.models import FinalGrade, FinalGradeRevert
from grades.policy import FinalGradeValues
from tests.factories import CourseRunFactory

pytestmark = pytest.mark.integration

LEARNERS = 100_000
SMALL = 10_000


def seed(course_run, user_ids):
    insert_final_grades(
        course_run,
        {
            uid: FinalGradeValues(round((uid % 100) / 100, 2), uid % 3 == 0, uid % 2 == 0)
            for uid in user_ids
        },
    )


def export_peak(course_run, out):
    """Peak Python memory (bytes) while exporting the run to a file, and the rows written."""
    tracemalloc.start()
    call_command("export_final_grades", course_run.edx_course_key, "--output", str(out))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with out.open() as exported:
        rows = sum(1 for _ in exported) - 1
    return peak, rows


def test_exporting_100000_final_grades_takes_the_memory_of_10000_and_revert_restore_is_quick(
    tmp_path,
):
    User = get_user_model()
    User.objects.bulk_create(
        [
            User(username=f"scale{n:06d}", email=f"scale{n:06d}@example.com")
            for n in range(LEARNERS)
        ],
        batch_size=10_000,
    )
    user_ids = list(User.objects.order_by("id").values_list("id", flat=True))
    small, large = CourseRunFactory(), CourseRunFactory()
    seed(small, user_ids[:SMALL])
    seed(large, user_ids)

    small_peak, small_rows = export_peak(small, tmp_path / "small.csv")
    large_peak, large_rows = export_peak(large, tmp_path / "large.csv")
    print(
        f"export peak memory: {small_rows} rows {small_peak / 2**20:.2f} MiB, "
        f"{large_rows} rows {large_peak / 2**20:.2f} MiB"
    )
    assert (small_rows, large_rows) == (SMALL, LEARNERS)
    assert large_peak < small_peak * 1.5  # ten times the rows, about the same memory
    assert large_peak < 16 * 2**20

    before = list(FinalGrade.objects.filter(course_run=large).order_by("pk").values())
    started = time.monotonic()
    call_command("revert_final_grades", large.edx_course_key, "--yes", stdout=io.StringIO())
    reverted = time.monotonic() - started
    revert_id = FinalGradeRevert.objects.get().pk
    started = time.monotonic()
    call_command("restore_final_grades", str(revert_id), stdout=io.StringIO())
    restored = time.monotonic() - started
    print(f"revert of {LEARNERS} final grades: {reverted:.1f} s, restore: {restored:.1f} s")
    assert list(FinalGrade.objects.filter(course_run=large).order_by("pk").values()) == before
    assert reverted < 60 and restored < 60
