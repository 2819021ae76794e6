"""dashboard.token_locks: a lock on an edX link excludes other processes and dies with
the process that holds it."""

import os
import signal
import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.db import connection

from dashboard import token_locks
from tests.conftest import ROOT
from tests.integration.conftest import database_url

pytestmark = pytest.mark.django_db(transaction=True)

LINK_ID = 4242
HOLDER = """
import sys, time, django
django.setup()
from dashboard import token_locks
with token_locks.locked([int(sys.argv[1])]):
    print("locked", flush=True)
    time.sleep(60)
"""


def holder_environment():
    """The test's own database (PostgreSQL) or VAR_DIR (SQLite's lock file)."""
    env = {**os.environ, "GRADEFREEZE_VAR_DIR": str(settings.VAR_DIR)}
    env["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = database_url()
    else:
        env.pop("DATABASE_URL", None)
    return env


@pytest.fixture
def holder():
    """Another process holding the lock of LINK_ID."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(LINK_ID)],
        cwd=ROOT,
        env=holder_environment(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "locked"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def lock_in_a_thread(link_id):
    got = threading.Event()

    def take():
        try:
            with token_locks.locked([link_id]):
                got.set()
        finally:
            connection.close()

    threading.Thread(target=take, daemon=True).start()
    return got


def test_a_link_locked_by_another_process_waits_until_that_process_is_killed(holder):
    got = lock_in_a_thread(LINK_ID)
    assert not got.wait(1), "took a lock another process holds"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert got.wait(10), "the killed holder's lock was not released"


def test_other_links_are_not_held_up(holder):
    assert lock_in_a_thread(LINK_ID + 1).wait(10)


def test_a_lock_released_is_taken_at_once_by_another_thread_of_the_process():
    with token_locks.locked([LINK_ID]) as locks:
        got = lock_in_a_thread(LINK_ID)
        assert not got.wait(0.5), "two threads of one process held one link"
        locks.release([LINK_ID])
        assert got.wait(5)
