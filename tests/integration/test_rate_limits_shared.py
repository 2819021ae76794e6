"""The LMS rate limiter shared by several processes through Redis (dashboard.rate_limits)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

ACQUIRER = """
import time, django
django.setup()
from dashboard import rate_limits
for _ in range({count}):
    rate_limits.acquire(rate_limits.GRADES)
    print(time.time(), flush=True)
"""


def test_two_processes_share_one_window_in_redis():
    """Two processes, 8 grade reads each, at most 5 a second between them: no second
    sees more than 5, and the 16 take at least three windows (a window is the period
    plus the limiter's margin, 2 s here)."""
    from dashboard import rate_limits

    rate_limits.reset()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gradefreeze.settings",
        "REDIS_URL": settings.REDIS_URL,
        "EDX_RATE_LIMITS": "grades=5/s",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ACQUIRER.format(count=8)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    times = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        times += [float(line) for line in out.split()]
    rate_limits.reset()
    times.sort()
    assert len(times) == 16
    most = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert most <= 5
    assert times[-1] - times[0] >= 2 * (1 + rate_limits.MARGIN_S) - 0.1


def test_acquire_async_keeps_to_the_window_in_redis(settings, monkeypatch):
    """The awaiting form on the shared window: 9 requests at once, 4 a second."""
    import asyncio
    import time

    from dashboard import rate_limits
    from gradefreeze.env import Rate

    settings.EDX_RATE_LIMITS = {**settings.EDX_RATE_LIMITS, "grades": Rate(4, 1)}
    monkeypatch.setattr(rate_limits, "MARGIN_S", 0.0)
    rate_limits.reset()
    times = []

    async def one():
        await rate_limits.acquire_async(rate_limits.GRADES)
        times.append(time.time())

    async def main():
        await asyncio.gather(*(one() for _ in range(9)))

    started = time.time()
    asyncio.run(main())
    rate_limits.reset()
    times.sort()
    assert times[-1] - started >= 2.0
    most = max(sum(1 for t in times[i:] if t < start + 0.95) for i, start in enumerate(times))
    assert most <= 4, [round(t - started, 3) for t in times]
