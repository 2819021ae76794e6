"""The floor: the least any freeze of the run must do, done as fast as one process can.

Every grade page and enrollment of the run and the certificate of every learner who can
hold one, fetched with `concurrency` requests in flight, then the final rows (user id, run
id, grade, passed, paid) COPYed into a PostgreSQL table. Nothing else: no per-learner
bookkeeping, no audit, no Celery.
"""

import asyncio
import math
import time

import aiohttp
import psycopg

from bench.lms_load import staff_token
from grades.api import compute_final_grade

GRADES_PAGE_SIZE = 1000
# Usernames per enrollments request: 400 of them keep the URL under the 8 KiB a request
# line may have.
ENROLLMENT_BATCH = 400
FLOOR_TABLE = "bench_floor_final_grade"


async def _pool(items, concurrency, fetch):
    """Call `fetch` on every item with at most `concurrency` calls in flight; in order."""
    results = [None] * len(items)
    position = iter(range(len(items)))

    async def work():
        for index in position:
            results[index] = await fetch(items[index])

    await asyncio.gather(*(work() for _ in range(min(concurrency, len(items)) or 1)))
    return results


class FloorClient:
    """The run's grades, enrollments and certificates over one aiohttp session."""

    def __init__(self, session, url, course_key, concurrency):
        self.session = session
        self.url = url.rstrip("/")
        self.course_key = course_key
        self.concurrency = concurrency
        self.headers = {}

    async def authenticate(self):
        self.headers = {"Authorization": f"Bearer {await staff_token(self.session, self.url)}"}

    async def _get(self, path, params=None, missing_ok=False):
        async with self.session.get(self.url + path, params=params, headers=self.headers) as r:
            if missing_ok and r.status == 404:
                return None
            r.raise_for_status()
            return await r.json(content_type=None)

    async def grades(self, learners):
        pages = range(1, max(math.ceil(learners / GRADES_PAGE_SIZE), 1) + 1)
        path = f"/api/grades/v1/courses/{self.course_key}/"

        async def page(number):
            params = {"page": number, "page_size": GRADES_PAGE_SIZE}
            return (await self._get(path, params))["results"]

        found = await _pool(list(pages), self.concurrency, page)
        return [grade for rows in found for grade in rows]

    async def enrollments(self, usernames):
        batches = [
            usernames[i : i + ENROLLMENT_BATCH] for i in range(0, len(usernames), ENROLLMENT_BATCH)
        ]

        async def batch(names):
            params = {
                "course_id": self.course_key,
                "username": ",".join(names),
                "page_size": ENROLLMENT_BATCH,
            }
            return (await self._get("/api/enrollment/v1/enrollments", params))["results"]

        pages = await _pool(batches, self.concurrency, batch)
        return {row["user"]: row for rows in pages for row in rows}

    async def certificates(self, usernames):
        async def certificate(username):
            path = f"/api/certificates/v0/certificates/{username}/courses/{self.course_key}/"
            return await self._get(path, missing_ok=True)

        found = await _pool(usernames, self.concurrency, certificate)
        return dict(zip(usernames, found, strict=True))


def _session(concurrency):
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))


async def certificate_rate(url, course_key, usernames, concurrency) -> float:
    """Certificates a second at this concurrency (to pick the floor's best one)."""
    async with _session(concurrency) as session:
        client = FloorClient(session, url, course_key, concurrency)
        await client.authenticate()
        started = time.monotonic()
        await client.certificates(usernames)
        return len(usernames) / (time.monotonic() - started)


async def fetch_run(url, course_key, learners, concurrency):
    """Everything the freeze of the run needs from the LMS: (grades, enrollments, certs)."""
    async with _session(concurrency) as session:
        client = FloorClient(session, url, course_key, concurrency)
        await client.authenticate()
        grades = await client.grades(learners)
        enrollments = await client.enrollments([g["username"] for g in grades])
        can_hold = [name for name, e in enrollments.items() if e["mode"] != "audit"]
        certificates = await client.certificates(can_hold)
    return grades, enrollments, certificates


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


CANDIDATE_CONCURRENCY = (64, 128, 256, 512)


def measure_floor(bench, course_run) -> dict:
    """Pick the best concurrency on a sample of certificates, then time the floor at it."""
    learners = len(bench.dataset["learners"])
    probe = list(bench.dataset["learners"])[: min(learners, max(2000, learners // 20))]
    rates = {
        concurrency: asyncio.run(
            certificate_rate(bench.sandbox.url, course_run.edx_course_key, probe, concurrency)
        )
        for concurrency in CANDIDATE_CONCURRENCY
    }
    best = max(rates, key=rates.get)
    prepare_table(bench.database_url)
    bench.sandbox.reset_stats()
    sandbox_cpu = bench.sandbox.cpu_seconds()
    started = time.monotonic()
    grades, enrollments, certificates = asyncio.run(
        fetch_run(bench.sandbox.url, course_run.edx_course_key, learners, best)
    )
    rows = copy_final_rows(bench.database_url, course_run, grades, enrollments, certificates)
    wall = time.monotonic() - started
    sandbox_cpu = bench.sandbox.cpu_seconds() - sandbox_cpu
    lms = bench.sandbox.stats()
    return {
        "mode": "floor",
        "course_run": course_run.edx_course_key,
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
        "check": check_floor_rows(bench, course_run),
    }


def check_floor_rows(bench, course_run) -> dict:
    """One row per learner, with the final grade the dataset implies."""
    from bench.modes import expected_final_grade

    with psycopg.connect(bench.database_url) as connection:
        rows = connection.execute(
            f"SELECT u.username, f.grade, f.passed, f.paid FROM {FLOOR_TABLE} f"
            " JOIN auth_user u ON u.id = f.user_id WHERE f.course_run_id = %s",
            [course_run.id],
        ).fetchall()
    learners = bench.dataset["learners"]
    wrong = sum(
        1
        for username, grade, passed, paid in rows
        if expected_final_grade(learners[username], course_run) != (round(grade, 6), passed, paid)
    )
    distinct = len({row[0] for row in rows})
    return {
        "population": len(learners),
        "rows": len(rows),
        "duplicates": len(rows) - distinct,
        "wrong_values": wrong,
        "ok": distinct == len(rows) == len(learners) and wrong == 0,
    }
