"""The periodic refresh of learners' edX data with its worker killed mid-run: the next
round (beat's) sends who is still stale, and every learner ends up fresh."""

import subprocess
import sys

import pytest
from django.utils import timezone

from bench.processes import wait_until
from dashboard.models import LearnerRefresh
from tests.conftest import ROOT
from tests.faults.conftest import kill_group, population_dataset

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LEARNERS = 40
CHUNKED = {"FREEZE_CHUNK_SIZE": 5, "FREEZE_LEARNER_CONCURRENCY": 1}
CONCURRENCY = 2


def beat_sends_the_refresh(lms):
    """What beat does every EDX_CACHE_REFRESH_SECONDS."""
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "gradefreeze", "call",
         "learners.tasks.refresh_edx_caches"],
        cwd=ROOT, env=lms.env(**CHUNKED), check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def fresh():
    cutoff = timezone.now() - timezone.timedelta(hours=1)
    return LearnerRefresh.objects.filter(enrollments_refreshed_on__gte=cutoff).count()


def test_a_refresh_whose_worker_is_killed_is_finished_by_the_next_round(platform, demo_run):
    lms = platform(population_dataset(LEARNERS, revoked=0), latency_ms=100)
    LearnerRefresh.objects.update(
        enrollments_refreshed_on=timezone.now() - timezone.timedelta(days=2)
    )
    worker = lms.start_worker(concurrency=CONCURRENCY, **CHUNKED)
    beat_sends_the_refresh(lms)
    wait_until(lambda: fresh() >= 5, 120, "a first chunk of the refresh to finish")
    kill_group(worker)
    at_kill = fresh()
    assert at_kill < LEARNERS, "the refresh finished before the kill: nothing was tested"

    lms.start_worker(concurrency=CONCURRENCY, **CHUNKED)
    beat_sends_the_refresh(lms)

    # A learner whose token grant was in flight at the kill may have lost it (one per
    # worker process at most): edX refuses them, and they stay stale until they sign in.
    wait_until(lambda: fresh() >= LEARNERS - CONCURRENCY, 180, "every learner to be fresh")
    print(f"{at_kill} of {LEARNERS} learners fresh at the kill, {fresh()} at the end")
