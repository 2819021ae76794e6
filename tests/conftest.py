"""Fixtures every test may use: in-process tasks and a real sandbox LMS process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings

from bench.processes import free_port, stop, wait_until

ROOT = Path(__file__).resolve().parents[1]


def _tasks_in_process(value):
    from gradefreeze.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = value
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with the LMS rate limiter's windows empty, as its sandbox does."""
    from dashboard import rate_limits

    rate_limits.reset()


@pytest.fixture(autouse=True)
def _plain_http_test_client(settings):
    """The test client speaks plain HTTP: production's redirect to HTTPS would answer 301."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(scope="session")
def _plain_http():
    """Production's HTTPS redirect and secure cookies would keep browsers and clients out of a
    plain-HTTP live server; the redirect is read when the server starts."""
    names = ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    before = {name: getattr(django_settings, name) for name in names}
    for name in names:
        setattr(django_settings, name, False)
    yield
    for name, value in before.items():
        setattr(django_settings, name, value)


@pytest.fixture(scope="session")
def live_server(_plain_http, live_server):
    """pytest-django's live server, started over plain HTTP."""
    return live_server


@pytest.fixture
def in_process_tasks():
    """Run Celery tasks in the calling process, as the embedded default does."""
    yield from _tasks_in_process(True)


@pytest.fixture
def tasks_on_workers():
    """Tasks go to Celery workers (none need to run: for state that depends on it)."""
    yield from _tasks_in_process(False)


class Sandbox:
    def __init__(self, process, base_url):
        self.process = process
        self.base_url = base_url

    def healthy(self):
        try:
            return requests.get(f"{self.base_url}/_sandbox/health", timeout=1).ok
        except requests.RequestException:
            return False

    def stats(self):
        return requests.get(f"{self.base_url}/_sandbox/stats", timeout=5).json()

    def clear_faults(self):
        requests.delete(f"{self.base_url}/_sandbox/faults", timeout=5).raise_for_status()

    def put_learner(self, username, learner):
        requests.put(
            f"{self.base_url}/_sandbox/learners/{username}", json=learner, timeout=5
        ).raise_for_status()


@pytest.fixture
def start_sandbox(tmp_path, settings):
    """Start `python -m sandbox serve` on a dataset; the platform is pointed at it."""
    processes = []

    def start(dataset, latency_ms=0, throttles="edx", options=()):
        """`throttles`: "edx" (edX's defaults, the sandbox's own), or "off" where a suite
        measures something else and says so; `options`: more of `serve`'s options."""
        data_file = tmp_path / f"sandbox-{len(processes)}.json"
        data_file.write_text(json.dumps(dataset))
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "serve",
                "--data",
                str(data_file),
                "--port",
                str(port),
                "--latency-ms",
                str(latency_ms),
                "--throttles",
                throttles,
                *options,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        processes.append(process)
        sandbox = Sandbox(process, f"http://127.0.0.1:{port}")
        wait_until(sandbox.healthy, 20, "the sandbox to answer")
        settings.EDXORG_BASE_URL = sandbox.base_url + "/"
        return sandbox

    yield start
    for process in processes:
        stop(process)


PAID = {"verified", "honor"}


def expected_final_grade(learner, course_key):
    """The certificate policy, read straight off the sandbox's data for one learner:
    the oracle the freeze's results are checked against."""
    grade = next(g for g in learner["grades"] if g["course_id"] == course_key)
    mode = next(
        e["mode"] for e in learner["enrollments"] if e["course_details"]["course_id"] == course_key
    )
    certificate = next((c for c in learner["certificates"] if c["course_id"] == course_key), None)
    if certificate is None:
        return (round(float(grade["percent"]), 6), False, mode in PAID)
    return (
        round(float(grade["percent"]), 6),
        certificate["status"] == "downloadable",
        certificate["certificate_type"] in PAID,
    )
