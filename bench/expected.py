"""The final grades the benchmark's dataset implies, kept in a table of the benchmark's
database as the learners are seeded: a freeze of a million learners is then checked by
streaming a join, not against the dataset held in the bench's memory."""

from collections.abc import Iterable

from django.db import connection

from grades.policy import compute_final_grade
from sandbox.dataset import record_course_id

EXPECTED_TABLE = "bench_expected_grade"
_FETCH = 10000


def create_expected_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {EXPECTED_TABLE} ("
            " course_run_id integer NOT NULL, user_id integer NOT NULL,"
            " grade double precision NOT NULL, passed boolean NOT NULL, paid boolean NOT NULL,"
            " PRIMARY KEY (course_run_id, user_id))"
        )


def copy_expected(course_runs: Iterable, learners: Iterable[tuple[int, dict]]) -> None:
    """COPY the expected (grade, passed, paid) of each learner (user id, dataset learner)
    in each of the course runs they are enrolled in."""
    course_runs = list(course_runs)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY {EXPECTED_TABLE} (course_run_id, user_id, grade, passed, paid) FROM STDIN"
        ) as copy,
    ):
        for user_id, learner in learners:
            enrolled = {record_course_id(record) for record in learner["enrollments"]}
            for course_run in course_runs:
                if course_run.edx_course_key in enrolled:
                    copy.write_row(
                        (course_run.id, user_id, *expected_final_grade(learner, course_run))
                    )


def expected_final_grade(learner: dict, course_run) -> tuple[float, bool, bool]:
    """(grade, passed, paid) that the dataset implies for the learner in the run."""
    course_key = course_run.edx_course_key

    def record(kind):
        for item in learner[kind]:
            if record_course_id(item) == course_key:
                return item
        return None

    values = compute_final_grade(
        course_run.has_exam, record("grades"), record("certificates"), record("enrollments")
    )
    return (round(values.grade, 6), values.passed, values.paid)


def count_wrong(rows_sql: str, params: list) -> int:
    """How many rows of `rows_sql` (grade, passed, paid, then the expected three, NULL when
    none is expected) differ from what is expected; read through a server-side cursor."""
    wrong = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(rows_sql, params)
        while rows := cursor.fetchmany(_FETCH):
            wrong += sum(
                1
                for grade, passed, paid, *expected in rows
                if expected[0] is None or [round(grade, 6), passed, paid] != expected
            )
    return wrong
