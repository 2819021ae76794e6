"""The benchmark's platform: its own PostgreSQL database, the dataset the sandbox serves,
and the platform's side of it (course runs, learners, edX links, cached enrollments and
grades)."""

import copy
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql
from social_django.models import UserSocialAuth

from bench.bulk_load import copy_instances
from bench.expected import copy_expected, create_expected_table
from bench.processes import rss_mb
from dashboard.models import CachedCurrentGrade, CachedEnrollment, LearnerRefresh
from demo.api import TOKEN_AGE_SECONDS, seed_course_run, unsaved_learner_rows, unsaved_user
from sandbox.dataset import generate_learners, generated_head

RUN_KEY = "course-v1:MITx+Bench+Freeze+2026_T1"
# The concurrency-1 mode freezes this run: the first learners again, in a run of their own,
# so that the original design can be timed on a sample at large N.
SAMPLE_RUN_KEY = "course-v1:MITx+Bench+Sample+2026_T1"
# No exam: passed iff a downloadable certificate. 70% of the learners hold a certificate;
# it is downloadable for the 71% who passed, unless they are in audit mode (20%), as on
# edX: 0.8 * 0.7 * 0.71, about 40% of the learners pass.
NO_CERTIFICATE_SHARE = 0.3
PASSED_SHARE = 0.71
# Learners generated, written and seeded at a time: about 60 MB of them in memory.
SEED_BATCH = 20000


def recreate_database(database_url: str) -> None:
    """Drop and create the benchmark's database, so every run starts from nothing."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    maintenance = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def bench_learners(learners: int, sample: int) -> Iterator[tuple[str, dict]]:
    """N learners in the benchmark's run, the first `sample` of them also in the sample run,
    one at a time."""
    details = None
    generated = generate_learners(
        learners,
        course_keys=(RUN_KEY,),
        revoked=0,
        no_certificate_share=NO_CERTIFICATE_SHARE,
        passed_share=PASSED_SHARE,
    )
    for index, (username, learner) in enumerate(generated):
        if index < sample:
            for records in ("enrollments", "grades", "certificates"):
                learner[records] = learner[records] + [
                    _in_sample_run(record) for record in learner[records]
                ]
            for enrollment in learner["enrollments"][1:]:
                if details is None:
                    details = {**enrollment["course_details"], "course_id": SAMPLE_RUN_KEY}
                enrollment["course_details"] = details
        yield username, learner


def bench_head() -> dict:
    """The data file but its learners: the clients and the two course runs."""
    return generated_head((RUN_KEY, SAMPLE_RUN_KEY))


def _in_sample_run(record: dict) -> dict:
    copied = copy.copy(record)
    if "course_id" in copied:
        copied["course_id"] = SAMPLE_RUN_KEY
    return copied


def seed(learners: int, sample: int, data_file: Path, progress: Callable[[str], None]) -> dict:
    """Generate the learners in batches; write each batch to the sandbox's data file and
    seed it on the platform (users, edX links, cached enrollments and grades, and the
    final grades they imply, for the check), each batch one transaction of COPYs, so that
    memory stays bounded at a million learners. Returns the course runs by key, the
    seconds spent generating and writing the data file, and the seconds seeding."""
    started = time.monotonic()
    yesterday = timezone.now() - timezone.timedelta(days=1)
    runs = {key: seed_course_run(key, yesterday) for key in (RUN_KEY, SAMPLE_RUN_KEY)}
    create_expected_table()
    seeding = time.monotonic() - started
    dataset = 0.0
    batches = _batched(bench_learners(learners, sample), SEED_BATCH)
    head = json.dumps(bench_head())
    done = 0
    with open(data_file, "w", encoding="utf-8") as out:
        out.write(head[:-1] + ', "learners": {')
        while True:
            started = time.monotonic()
            batch = next(batches, None)
            if batch is None:
                break
            out.write(("" if done == 0 else ", ") + json.dumps(dict(batch))[1:-1])
            dataset += time.monotonic() - started
            started = time.monotonic()
            _seed_batch(batch, list(runs.values()))
            seeding += time.monotonic() - started
            done += len(batch)
            progress(
                f"seeding {done}/{learners} ({dataset:.1f} s dataset, {seeding:.1f} s seeding, "
                f"RSS {rss_mb(os.getpid()):.0f} MB)"
            )
        out.write("}}\n")
    started = time.monotonic()
    analyze()
    seeding += time.monotonic() - started
    return {"runs": runs, "dataset_seconds": dataset, "seconds": seeding}


def _batched(items: Iterator, size: int) -> Iterator[tuple]:
    """itertools.batched, which Python 3.11 lacks."""
    while batch := tuple(itertools.islice(items, size)):
        yield batch


def _seed_batch(batch: tuple[tuple[str, dict], ...], course_runs: list) -> None:
    """One batch of learners on the platform, in one transaction: the rows
    `demo.api.seed_learners` writes, COPYed into the fresh database."""
    User = get_user_model()
    ids = {run.edx_course_key: run.id for run in course_runs}
    now = timezone.now()
    issued = int(time.time()) - TOKEN_AGE_SECONDS
    with transaction.atomic():
        copy_instances(User, (unsaved_user(name, learner) for name, learner in batch))
        user_ids = dict(
            User.objects.filter(username__in=[name for name, _ in batch]).values_list(
                "username", "id"
            )
        )
        links, enrollments, grades = [], [], []
        for name, learner in batch:
            link, learner_enrollments, learner_grades = unsaved_learner_rows(
                user_ids[name], name, learner, ids, now, issued
            )
            links.append(link)
            enrollments.extend(learner_enrollments)
            grades.extend(learner_grades)
        copy_instances(UserSocialAuth, links)
        copy_instances(CachedEnrollment, enrollments)
        copy_instances(CachedCurrentGrade, grades)
        # What was seeded is what the sandbox serves: as fresh as a refresh now.
        copy_instances(
            LearnerRefresh,
            (
                LearnerRefresh(user_id=user_id, enrollments_refreshed_on=now)
                for user_id in user_ids.values()
            ),
        )
        copy_expected(course_runs, ((user_ids[name], learner) for name, learner in batch))


def analyze() -> None:
    """Gather the planner's statistics, as autovacuum would after a bulk load (it is off on
    some servers): without them PostgreSQL plans the check's joins over a million fresh
    rows as nested loops, minutes instead of a second."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def learner_usernames(limit: int) -> list[str]:
    """The first `limit` learners seeded, in the dataset's order."""
    return list(get_user_model().objects.order_by("id").values_list("username", flat=True)[:limit])


def expire_learner_tokens() -> None:
    """Take every learner's access token as issued a day ago, so each mode that reads the
    LMS with learners' tokens refreshes them first, as the first freeze does."""

    table = UserSocialAuth._meta.db_table
    issued = int(time.time()) - TOKEN_AGE_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET extra_data = jsonb_set(extra_data, '{{auth_time}}', %s::jsonb)",
            [str(issued)],
        )
