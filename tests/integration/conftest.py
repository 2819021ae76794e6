"""Real processes for the integration tests: the sandbox LMS and Celery workers.

The test process and the workers share the PostgreSQL test database and the
Redis broker that scripts/test configures; each test gets its own queue.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from demo.api import seed_course_run, seed_learners
from gradefreeze.celery import app as celery_app
from grades import api
from sandbox.dataset import generate

ROOT = Path(__file__).resolve().parents[2]
COURSE_KEY = "course-v1:MITx+Analog+Learning+200+Jan_2015"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def _real_services_only(transactional_db):
    if connection.vendor != "postgresql" or not django_settings.CELERY_BROKER_URL:
        pytest.fail(
            "integration tests need PostgreSQL and a Redis broker: run scripts/test "
            "(it sets DATABASE_URL and CELERY_BROKER_URL)"
        )


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

    def start(dataset, latency_ms=0):
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


def database_url():
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    def __init__(self, process, hostname):
        self.process = process
        self.hostname = hostname

    def ready(self):
        replies = celery_app.control.ping(destination=[self.hostname], timeout=0.5)
        return bool(replies)


@pytest.fixture
def worker_queue():
    """A queue of this test's own, so no task of another test or run reaches its workers."""
    queue = f"gradefreeze-test-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = previous


@pytest.fixture
def start_worker(worker_queue):
    """Start a real `celery -A gradefreeze worker` process on the test database and queue."""
    processes = []

    def start(sandbox, concurrency=2, **extra_env):
        hostname = f"worker{len(processes)}-{worker_queue}@%h"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_TASK_DEFAULT_QUEUE": worker_queue,
            "EDXORG_BASE_URL": sandbox.base_url,
            **{key: str(value) for key, value in extra_env.items()},
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "gradefreeze",
                "worker",
                "-Q",
                worker_queue,
                "-n",
                hostname,
                "-c",
                str(concurrency),
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
        )
        processes.append(process)
        worker = Worker(process, hostname.replace("%h", socket.gethostname()))
        wait_until(worker.ready, 30, "the Celery worker to answer a ping")
        return worker

    yield start
    for process in processes:
        stop(process)


@pytest.fixture
def demo_run():
    """A course run whose freeze date has passed."""
    return seed_course_run(COURSE_KEY, timezone.now() - timezone.timedelta(days=1))


@pytest.fixture
def seeded(demo_run):
    """Seed the platform's side of a generated dataset; returns the dataset."""

    def seed(**options):
        options.setdefault("learners", 40)
        options.setdefault("revoked", 0)
        dataset = generate(course_keys=(demo_run.edx_course_key,), **options)
        seed_learners(dataset)
        return dataset

    return seed


def wait_for_state(course_run, state, timeout=90):
    wait_until(lambda: api.freeze_status(course_run).state == state, timeout, f"state {state!r}")
    return api.freeze_status(course_run)


@pytest.fixture
def operator_env(worker_queue, settings):
    """The environment of an operator's shell on the server: test database, queue and LMS."""

    def env():
        return {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_TASK_DEFAULT_QUEUE": worker_queue,
            "EDXORG_BASE_URL": settings.EDXORG_BASE_URL,
        }

    return env


@pytest.fixture
def manage(operator_env):
    """Run `python manage.py ...` as an operator would."""

    def run(*args, stdin=None):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=operator_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
