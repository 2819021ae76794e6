"""Real processes for the fault suite, on a private PostgreSQL cluster and a private Redis.

Faults that restart PostgreSQL or Redis must not touch the machine's shared servers
(other test runs use them), so every fault test runs on servers of this session's
own: one PostgreSQL cluster (initdb takes about a second, the migrations a few) and
one Redis, both on free ports and restarted at will. The test process's database
connection is pointed at the private cluster for the test's duration.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from bench.processes import free_port, stop, wait_until
from demo.api import seed_course_run, seed_learners
from grades.models import CourseRunGradingStatus, FinalGrade, FinalGradeAudit, FreezeFailure
from sandbox.dataset import DEFAULT_STAFF_CLIENT, generate
from tests.conftest import ROOT, expected_final_grade

COURSE_KEY = "course-v1:MITx+Analog+Learning+200+Jan_2015"
# The population of each fault test (the kill test's is twice this): a few thousand
# learners; FAULT_SUITE_LEARNERS=400 is a quicker pass in which every fault still lands.
LEARNERS = int(os.environ.get("FAULT_SUITE_LEARNERS", "3000"))
# Beat looks for due and stalled runs every 2 s; a chunk silent for 3 heartbeats of 2 s
# is dead (longer than the 3 s a restarted server is down).
FREEZE_ENV = {
    # The sandbox's throttles are off in this suite (it measures what faults cost), so
    # the workers' limiter is raised to match.
    "EDX_RATE_LIMITS": "token=off,enrollments=off",
    "FREEZE_SCHEDULE_SECONDS": 2,
    "FREEZE_HEARTBEAT_SECONDS": 2,
    "FREEZE_CHUNK_SIZE": 25,
    "FREEZE_LEARNER_CONCURRENCY": 4,
}
WORKER_CONCURRENCY = 4
# A worker's environment to freeze course-wide, by pages of 100.
COURSE_WIDE = {
    "FREEZE_MODE": "course_wide",
    "EDXORG_STAFF_CLIENT_ID": DEFAULT_STAFF_CLIENT["client_id"],
    "EDXORG_STAFF_CLIENT_SECRET": DEFAULT_STAFF_CLIENT["client_secret"],
    "FREEZE_PAGE_SIZE": 100,
    "FREEZE_PAGE_CONCURRENCY": 8,
}
# A worker killed mid-refresh loses only the grants whose answer was in flight: each new
# pair is committed before it is used (dashboard.token_refresh). At most one per grant
# thread, so this bound per kill; the test prints what it measured per killed process
# (about one: the grants sent and not yet answered, which the sandbox still rotates when
# its answer was already on its way). Before, every pair of a batch waited for the
# batch's commit after all its reads: 2.75 per killed process measured.
REFRESHES_IN_FLIGHT = WORKER_CONCURRENCY * FREEZE_ENV["FREEZE_LEARNER_CONCURRENCY"]
# Debian's layout: the server's programs are not on PATH.
PG_BIN = Path(
    os.environ.get("PG_BIN")
    or max(
        Path("/usr/lib/postgresql").glob("[0-9]*/bin"),
        key=lambda path: int(path.parent.name),
        default="/usr/bin",
    )
)


def _as_postgres(*command, **kwargs):
    """initdb and pg_ctl refuse to run as root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")
    return done


class PrivatePostgres:
    """A PostgreSQL cluster of this test session, on a free port; trust auth, no fsync."""

    def __init__(self, directory):
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.name = "gradefreeze_faults"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/{self.name}"

    def init(self):
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip
        self.start()
        _as_postgres(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            self.name,
        )  # fmt: skip

    def start(self):
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self, mode="fast"):
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_seconds):
        """Stop (clients are disconnected, open transactions roll back), wait, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


class PrivateRedis:
    """A Redis of this test session, without persistence: a restart loses every message."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, 10, "the private Redis to answer")

    def answers(self):
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def flush(self):
        redis.Redis(port=self.port).flushall()

    def restart(self, down_seconds):
        stop(self.process)
        time.sleep(down_seconds)
        self.start()


@pytest.fixture(scope="session")
def private_postgres():
    # Not under pytest's tmp_path: the postgres user cannot enter root's private directory.
    directory = Path(tempfile.mkdtemp(prefix="gradefreeze-faults-"))
    cluster = PrivatePostgres(directory)
    try:
        cluster.init()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": cluster.url},
            check=True,
        )
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop("immediate")
        shutil.rmtree(directory)


@pytest.fixture(scope="session")
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    stop(server.process)


@pytest.fixture
def private_services(transactional_db, private_postgres, private_redis, tasks_on_workers):
    """This test's database connection goes to the private cluster; both start empty.

    The connection is pointed back before pytest-django's own teardown runs.
    """
    private_redis.flush()
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(
        HOST="127.0.0.1", PORT=private_postgres.port, NAME=private_postgres.name,
        USER="postgres", PASSWORD="",
    )  # fmt: skip
    call_command("flush", interactive=False, verbosity=0)
    yield private_postgres, private_redis
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


class Platform:
    """The platform's processes (workers, beat, commands) on the private servers."""

    def __init__(self, postgres, broker, sandbox, tmp_path):
        self.postgres = postgres
        self.broker = broker
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.processes = []

    def env(self, **extra):
        return {
            **os.environ,
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.broker.url,
            "CELERY_BROKER_URL": self.broker.url,
            "CELERY_TASK_DEFAULT_QUEUE": "celery",
            "EDXORG_BASE_URL": self.sandbox.base_url,
            **{key: str(value) for key, value in {**FREEZE_ENV, **extra}.items()},
        }

    def start_worker(self, concurrency=WORKER_CONCURRENCY, app="gradefreeze", **extra_env):
        """A `celery -A gradefreeze worker` (or another `app`) in its own process group
        (so it dies whole).

        Not waited for: the run's tasks wait in the broker until a worker takes them.
        """
        hostname = f"faults{len(self.processes)}-{os.getpid()}@localhost"
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", app, "worker",
                "-n", hostname, "-c", str(concurrency), "-l", "WARNING",
                "--without-gossip", "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env(**extra_env),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self._log(hostname),
        )  # fmt: skip
        self.processes.append(process)
        return process

    def start_beat(self, **extra_env):
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "gradefreeze", "beat", "-l", "WARNING",
                "-s", str(self.tmp_path / f"beat-schedule-{len(self.processes)}"),
            ],
            cwd=ROOT,
            env=self.env(**extra_env),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self._log("beat"),
        )  # fmt: skip
        self.processes.append(process)
        return process

    def _log(self, name):
        return (self.tmp_path / f"{name.split('@')[0]}.log").open("a")

    def freeze_command(self, course_key=COURSE_KEY):
        """Start `python manage.py freeze_final_grades KEY` (returns the process)."""
        return subprocess.Popen(
            [sys.executable, "manage.py", "freeze_final_grades", course_key],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def manage(self, *args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def kill_group(process):
    """SIGKILL the worker and its pool processes: nothing gets to clean up or acknowledge."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def kill_repeatedly(start_worker, course_run, kills, start_freeze):
    """Start a worker and the freeze, then SIGKILL the worker `kills` times, each at a
    random moment within 2 s of the newly started one freezing, unless the run
    completes first.

    Returns (the kills that landed, the random seed, to replay a failure).
    """
    worker = start_worker()
    assert start_freeze().wait(timeout=60) == 0
    dice = random.Random()
    seed = dice.randrange(10**6)
    dice.seed(seed)
    frozen = FinalGrade.objects.filter(course_run=course_run).count
    killed = 0
    for _ in range(kills):
        target = frozen() + 1
        wait_until(
            lambda target=target: frozen() >= target or is_complete(course_run), 300, "progress"
        )
        time.sleep(dice.uniform(0, 2))
        if is_complete(course_run):
            break
        kill_group(worker)
        killed += 1
        worker = start_worker()
    return killed, seed


def freeze_through_a_restart(lms, course_run, dataset, server, **worker_env):
    """Start beat, a worker and the freeze; restart `server` (3 s down) once a fifth of
    the learners are frozen, then wait until the run completes."""
    lms.start_beat()
    lms.start_worker(**worker_env)
    assert lms.freeze_command().wait(timeout=60) == 0
    wait_for_frozen(course_run, len(dataset["learners"]) // 5)
    server.restart(down_seconds=3)
    wait_for_complete(course_run)


@pytest.fixture
def demo_run(private_services):
    return seed_course_run(COURSE_KEY, timezone.now() - timezone.timedelta(days=1))


@pytest.fixture
def platform(private_services, start_sandbox, tmp_path, settings):
    """Start the platform on a seeded population: `platform(dataset, latency_ms)`."""
    settings.FREEZE_HEARTBEAT_SECONDS = FREEZE_ENV["FREEZE_HEARTBEAT_SECONDS"]
    started = []

    def start(dataset, latency_ms=0):
        seed_learners(dataset)
        # Throttles off: the fault suite measures what faults and kills cost (grants lost,
        # learners failed), which a throttled LMS's waits would only slow down.
        sandbox = start_sandbox(dataset, latency_ms=latency_ms, throttles="off")
        started.append(Platform(*private_services, sandbox, tmp_path))
        return started[-1]

    yield start
    for running in started:
        running.stop_all()


def population_dataset(learners=LEARNERS, **options):
    """A generated run of `learners`, a hundredth of them with revoked tokens."""
    options.setdefault("revoked", learners // 100)
    return generate(learners=learners, course_keys=(COURSE_KEY,), **options)


def revoked(dataset):
    return {name for name, learner in dataset["learners"].items() if learner.get("revoked")}


def lost_grants(failures, dataset):
    """The failures of learners who did not revoke access: grants lost to the fault.

    Each is a refresh token the LMS rotated and the platform never stored, so refused
    afterwards (HTTP 400); the learner must link their edX account again.
    """
    revoked_learners = revoked(dataset)
    assert revoked_learners <= set(failures)
    lost = {name: reason for name, reason in failures.items() if name not in revoked_learners}
    assert {(stage, status) for stage, _, status in lost.values()} <= {("token_refresh", 400)}
    return lost


def _database_answer(query):
    """The query's answer, or None while the database is away (the test restarts it)."""
    try:
        return query()
    except OperationalError:
        connection.close()
        return None


def is_complete(course_run):
    return _database_answer(
        CourseRunGradingStatus.objects.filter(
            course_run=course_run, status=CourseRunGradingStatus.COMPLETE
        ).exists
    )


def wait_for_complete(course_run, timeout=900):
    wait_until(lambda: is_complete(course_run), timeout, "the run's freeze to complete")


def wait_for_frozen(course_run, count, timeout=300):
    """Wait until at least `count` learners are frozen, and check the run is still going:
    a fault injected now lands mid-run."""
    frozen = FinalGrade.objects.filter(course_run=course_run).count
    wait_until(lambda: (_database_answer(frozen) or 0) >= count, timeout, f"{count} frozen")
    assert not is_complete(course_run), "the run completed before the fault could land"


def assert_end_state(platform, course_run, dataset):
    """Every learner frozen once with the oracle's values, or failed with a reason; the
    status command tells the truth and the audit holds one 'created' row per final grade.

    Returns the failures as {username: (stage, reason, http_status)}.
    """
    learners = dataset["learners"]
    frozen = {
        row.user.username: (round(row.grade, 6), row.passed, row.paid)
        for row in FinalGrade.objects.filter(course_run=course_run).select_related("user")
    }
    failures = {
        f.user.username: (f.stage, f.reason, f.http_status)
        for f in FreezeFailure.objects.filter(grading_status__course_run=course_run)
        .exclude(user__in=FinalGrade.objects.filter(course_run=course_run).values("user"))
        .select_related("user")
    }
    assert FinalGrade.objects.filter(course_run=course_run).count() == len(frozen)
    assert set(frozen) | set(failures) == set(learners), "a learner is neither frozen nor failed"
    assert not set(frozen) & set(failures)
    assert all(reason for _, reason, _ in failures.values()), "a failure without its reason"
    expected = {name: expected_final_grade(learners[name], COURSE_KEY) for name in frozen}
    wrong = {
        name: (values, expected[name])
        for name, values in frozen.items()
        if values != expected[name]
    }
    assert wrong == {}, f"{len(wrong)} final grades differ from the LMS's data"
    audited = Counter(
        FinalGradeAudit.objects.filter(course_run_id=course_run.id, action="created").values_list(
            "final_grade_id", flat=True
        )
    )
    ids = set(FinalGrade.objects.filter(course_run=course_run).values_list("id", flat=True))
    assert set(audited) == ids and set(audited.values()) == {1}
    status = platform.manage("check_final_grade_freeze_status", course_run.edx_course_key)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"frozen:  {len(frozen)}\n" in status.stdout
    assert f"failed:  {len(failures)}\n" in status.stdout
    assert "left:    0\n" in status.stdout
    assert f"needed:  {len(learners)}" in status.stdout
    return failures
