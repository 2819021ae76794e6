"""The floor: the least any freeze of the run must do, done as fast as we can.

Every grade page of the run (one after the other: edX pages them with a cursor) and, while
the next page is read, the enrollments of its learners and the certificate of every one
who can hold one, fetched with a fixed number of requests in flight, the certificates
split over as many processes as the worker has, then the final rows (user id, run id, grade,
passed, paid) COPYed into a PostgreSQL table. Nothing else: no per-learner bookkeeping,
no audit, no Celery.
"""

import asyncio
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import psycopg
from django.db import connection

from bench import lms_reads
from bench.expected import EXPECTED_TABLE, count_wrong
from bench.seeding import analyze, learner_usernames
from grades.policy import compute_final_grade

FLOOR_TABLE = "bench_floor_final_grade"
CANDIDATE_CONCURRENCY = (32, 64, 128, 256)


def _split(items, parts):
    return [items[i::parts] for i in range(parts)]


def fetch_certificates(pool, processes, url, course_key, usernames, concurrency) -> dict:
    """username -> certificate or None, fetched by `processes` processes at once."""
    found = {}
    for part in pool.map(
        lms_reads.certificates,
        *zip(
            *[(url, course_key, share, concurrency) for share in _split(usernames, processes)],
            strict=True,
        ),
    ):
        found.update(part)
    return found


def prepare_table(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (user_id bigint, course_run_id bigint,"
            " grade double precision, passed boolean, paid boolean)"
        )
        connection.execute(f"TRUNCATE {FLOOR_TABLE}")


def copy_final_rows(database_url, course_run, grades, enrollments, certificates) -> int:
    """Compute each learner's final grade and COPY the rows in; returns how many."""
    with psycopg.connect(database_url) as connection:
        user_ids = dict(connection.execute("SELECT username, id FROM auth_user").fetchall())
        columns = "user_id, course_run_id, grade, passed, paid"
        with connection.cursor().copy(f"COPY {FLOOR_TABLE} ({columns}) FROM STDIN") as copy:
            for grade in grades:
                username = grade["username"]
                values = compute_final_grade(
                    course_run.has_exam, grade, certificates.get(username), enrollments[username]
                )
                copy.write_row(
                    (user_ids[username], course_run.id, values.grade, values.passed, values.paid)
                )
    return len(grades)


async def _floor_reads(pool, processes, url, key, concurrency, certificate_concurrency):
    """The pipeline of lms_reads, each page's certificates split over the pool's processes."""
    loop = asyncio.get_running_loop()

    async def certificates_of(usernames):
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool, lms_reads.certificates, url, key, share, certificate_concurrency
                )
                for share in _split(usernames, processes)
                if share
            )
        )
        return {name: found for part in parts for name, found in part.items()}

    return await lms_reads.floor_reads(url, key, concurrency, certificates_of)


def measure_floor(bench, course_run) -> dict:
    """Pick the best concurrency on a sample of certificates, then time the floor at it."""
    processes = bench.worker_concurrency
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(lms_reads.ready, range(processes)))
        return _measure_floor(bench, course_run, pool, processes)


def _measure_floor(bench, course_run, pool, processes) -> dict:
    url, key = bench.sandbox.url, course_run.edx_course_key
    probe = learner_usernames(min(bench.learners, max(2000, bench.learners // 20)))
    rates = {}
    for concurrency in CANDIDATE_CONCURRENCY:
        started = time.monotonic()
        fetch_certificates(pool, processes, url, key, probe, concurrency)
        rates[concurrency] = len(probe) / (time.monotonic() - started)
    best = max(rates, key=rates.get)
    prepare_table(bench.database_url)
    bench.sandbox.reset_stats()
    sandbox_cpu = bench.sandbox.cpu_seconds()
    started = time.monotonic()
    grades, enrollments, certificates = asyncio.run(
        _floor_reads(pool, processes, url, key, best * processes, best)
    )
    rows = copy_final_rows(bench.database_url, course_run, grades, enrollments, certificates)
    wall = time.monotonic() - started
    sandbox_cpu = bench.sandbox.cpu_seconds() - sandbox_cpu
    lms = bench.sandbox.stats()
    return {
        "mode": "floor",
        "course_run": course_run.edx_course_key,
        "processes": processes,
        "concurrency": best,
        "certificates_per_s_by_concurrency": {str(c): round(r) for c, r in rates.items()},
        "learners": rows,
        "wall_s": round(wall, 2),
        "learners_per_s": round(rows / wall, 1),
        "lms_requests": sum(lms["requests"].values()),
        "lms_requests_by_endpoint": lms["requests"],
        "lms_statuses": lms["statuses"],
        # one SELECT of the user ids and one COPY
        "sql_statements": 2,
        "sql_statements_per_learner": round(2 / rows, 4),
        "worker_peak_rss_mb": None,
        "sandbox_cpu_share": round(sandbox_cpu / wall, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "check": check_floor_rows(bench, course_run),
    }


def check_floor_rows(bench, course_run) -> dict:
    """One row per learner, with the final grade the dataset implies (`bench.expected`)."""
    analyze()  # the floor's rows are fresh
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(DISTINCT user_id) FROM {FLOOR_TABLE} WHERE course_run_id = %s",
            [course_run.id],
        )
        rows, distinct = cursor.fetchone()
    wrong = count_wrong(
        f"SELECT f.grade, f.passed, f.paid, e.grade, e.passed, e.paid FROM {FLOOR_TABLE} f"
        f" LEFT JOIN {EXPECTED_TABLE} e"
        " ON e.course_run_id = f.course_run_id AND e.user_id = f.user_id"
        " WHERE f.course_run_id = %s",
        [course_run.id],
    )
    return {
        "population": bench.learners,
        "rows": rows,
        "duplicates": rows - distinct,
        "wrong_values": wrong,
        "ok": distinct == rows == bench.learners and wrong == 0,
    }
