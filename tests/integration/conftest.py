"""Real processes for the integration tests: the sandbox LMS and Celery workers.

The test process and the workers share the PostgreSQL test database and the
Redis broker that scripts/test configures; each test gets its own queue.
"""

import os
import socket
import subprocess
import sys
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from bench.processes import stop, wait_until
from demo.api import seed_course_run, seed_learners
from gradefreeze.celery import app as celery_app
from grades import api
from sandbox.dataset import generate
from tests.conftest import ROOT

COURSE_KEY = "course-v1:MITx+Analog+Learning+200+Jan_2015"


@pytest.fixture(autouse=True)
def _real_services_only(transactional_db):
    if connection.vendor != "postgresql" or django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.fail(
            "integration tests need PostgreSQL and a Redis broker: run scripts/test "
            "(it sets DATABASE_URL and CELERY_BROKER_URL)"
        )


def database_url():
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


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
