"""The benchmark end to end, tiny: its own database, the sandbox, a real Celery worker."""

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
import redis
from django.db import connection

from bench.sql_count import count_statements_into
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        pytest.fail("the benchmark's tests need PostgreSQL and Redis: run scripts/test")
    return url


@pytest.fixture
def bench_database_url(redis_url):
    """A database of the test's own for the benchmark to create; dropped afterwards."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    server = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}"
    name = f"{db['NAME']}_bench"
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as maintenance:
        maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_bench(options, tmp_path, bench_database_url, redis_url):
    """`python -m bench` on 60 learners with no latency: (its run, its figures)."""
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--learners", "60", "--latency-ms", "0"]
        + options
        + ["--out", str(out), "--database-url", bench_database_url, "--redis-url", redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return run, json.loads(out.read_text())


@pytest.mark.django_db
def test_the_statement_counter_adds_each_statement_to_the_redis_key(redis_url):
    key = f"gradefreeze-test:sql:{uuid.uuid4().hex[:8]}"
    counter = count_statements_into(redis_url, key)
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT 1")
    counter.flush()

    assert int(redis.Redis.from_url(redis_url).getdel(key)) == 3


def test_a_tiny_benchmark_freezes_every_learner_once_and_writes_its_figures(
    bench_database_url, redis_url, tmp_path
):
    run, figures = run_bench(
        ["--baseline-sample", "20", "--modes", "floor,concurrency-1"],
        tmp_path,
        bench_database_url,
        redis_url,
    )
    floor, baseline = figures["results"]["floor"], figures["results"]["concurrency-1"]
    assert floor["check"]["rows"] == 60
    assert baseline["check"]["frozen"] == 20
    assert baseline["sql_statements_per_learner"] > 0
    assert baseline["worker_peak_rss_mb"] > 0
    assert baseline["lms_requests"] >= 20
    assert "floor" in run.stdout and "concurrency-1" in run.stdout


def test_a_throttled_benchmark_reports_its_throttle_floor_and_the_peak_rates(
    bench_database_url, redis_url, tmp_path
):
    run, figures = run_bench(["--throttles", "edx"], tmp_path, bench_database_url, redis_url)
    assert list(figures["results"]) == ["course-wide"]
    assert figures["sandbox_settings"]["rates"]["enrollments_staff"] == "120/minute"
    throttles = figures["results"]["course-wide"]["throttles"]
    enrollments = throttles["endpoints"]["enrollments"]
    # 60 learners: one grade page, one part, one batch of usernames
    assert enrollments["requests_needed"] == 1
    assert enrollments["floor_s"] == 0.5
    assert enrollments["peak_per_minute"] == 1
    assert enrollments["over_limit_in_peak_minute"] == 0
    assert throttles["throttle_floor_s"] == 1.0  # the token endpoint: 2 requests at 120/m
    assert throttles["status_429"] == 0
    assert "throttle floor" in run.stdout
