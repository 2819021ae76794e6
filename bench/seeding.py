"""The benchmark's platform: its own PostgreSQL database, the dataset the sandbox serves,
and the platform's side of it (course runs, learners, edX links, cached enrollments and
grades)."""

import copy
import time

import psycopg
from django.utils import timezone
from psycopg import sql

from sandbox.dataset import generate

RUN_KEY = "course-v1:MITx+Bench+Freeze+2026_T1"
# The concurrency-1 mode freezes this run: the first learners again, in a run of their own,
# so that the original design can be timed on a sample at large N.
SAMPLE_RUN_KEY = "course-v1:MITx+Bench+Sample+2026_T1"
# No exam: passed iff a downloadable certificate. 70% of the learners hold a certificate;
# it is downloadable for the 71% who passed, unless they are in audit mode (20%), as on
# edX: 0.8 * 0.7 * 0.71, about 40% of the learners pass.
NO_CERTIFICATE_SHARE = 0.3
PASSED_SHARE = 0.71


def recreate_database(database_url: str) -> None:
    """Drop and create the benchmark's database, so every run starts from nothing."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    maintenance = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def bench_dataset(learners: int, sample: int) -> dict:
    """N learners in the benchmark's run, the first `sample` of them also in the sample run."""
    dataset = generate(
        learners=learners,
        course_keys=(RUN_KEY,),
        revoked=0,
        no_certificate_share=NO_CERTIFICATE_SHARE,
        passed_share=PASSED_SHARE,
    )
    details = None
    for username in list(dataset["learners"])[:sample]:
        learner = dataset["learners"][username]
        for records in ("enrollments", "grades", "certificates"):
            learner[records] = learner[records] + [
                _in_sample_run(record) for record in learner[records]
            ]
        for enrollment in learner["enrollments"][1:]:
            if details is None:
                details = {**enrollment["course_details"], "course_id": SAMPLE_RUN_KEY}
            enrollment["course_details"] = details
    dataset["course_runs"].append(SAMPLE_RUN_KEY)
    return dataset


def _in_sample_run(record: dict) -> dict:
    copied = copy.copy(record)
    if "course_id" in copied:
        copied["course_id"] = SAMPLE_RUN_KEY
    return copied


def seed_platform(dataset: dict) -> dict:
    """The two course runs (freeze date passed) and every learner; returns the runs by
    key and the seconds seeding took."""
    from demo.api import seed_course_run, seed_learners

    started = time.monotonic()
    yesterday = timezone.now() - timezone.timedelta(days=1)
    runs = {key: seed_course_run(key, yesterday) for key in (RUN_KEY, SAMPLE_RUN_KEY)}
    seed_learners(dataset)
    return {"runs": runs, "seconds": time.monotonic() - started}


def expire_learner_tokens() -> None:
    """Take every learner's access token as issued a day ago, so each mode that reads the
    LMS with learners' tokens refreshes them first, as the first freeze does."""
    from django.db import connection
    from social_django.models import UserSocialAuth

    from demo.api import TOKEN_AGE_SECONDS

    table = UserSocialAuth._meta.db_table
    issued = int(time.time()) - TOKEN_AGE_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET extra_data = jsonb_set(extra_data, '{{auth_time}}', %s::jsonb)",
            [str(issued)],
        )
