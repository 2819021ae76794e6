"""The LMS rate limiter: its setting, its range check and its in-process window.

(The window shared through Redis by several processes is tested in
tests/integration/test_rate_limits_shared.py.)
"""

import asyncio
import time

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from dashboard import rate_limits
from gradefreeze import env
from gradefreeze.env import Rate


def test_the_defaults_are_edx_platforms_throttles(settings):
    """RATELIMIT_RATE (120/m, oauth_dispatch AccessTokenView) and EnrollmentUserThrottle's
    staff scope (120/minute); grades, certificates and the user API are not throttled."""
    assert env.rates("NO_SUCH_VARIABLE", rate_limits.EDX_THROTTLES) == {
        "token": Rate(120, 60),
        "enrollments": Rate(120, 60),
        "learner_enrollments": None,
        "grades": None,
        "certificates": None,
        "user": None,
    }


def test_an_operator_changes_some_limits_and_keeps_the_others(monkeypatch):
    monkeypatch.setenv("EDX_RATE_LIMITS", "enrollments=off, grades=600/5m,token=1000/hour")
    limits = env.rates("EDX_RATE_LIMITS", rate_limits.EDX_THROTTLES)
    assert limits["enrollments"] is None
    assert limits["grades"] == Rate(600, 300)
    assert limits["token"] == Rate(1000, 3600)
    assert limits["certificates"] is None


@pytest.mark.parametrize(
    "value",
    [
        "grades",
        "grades=",
        "grades=fast",
        "grades=10/fortnight",
        "courses=10/m",
        "grades=1/m,grades=2/m",
    ],
)
def test_a_limit_that_does_not_parse_is_refused_naming_it(monkeypatch, value):
    monkeypatch.setenv("EDX_RATE_LIMITS", value)
    with pytest.raises(ImproperlyConfigured, match="EDX_RATE_LIMITS"):
        env.rates("EDX_RATE_LIMITS", rate_limits.EDX_THROTTLES)


def test_a_limit_of_zero_is_out_of_range(settings):
    settings.EDX_RATE_LIMITS = {**settings.EDX_RATE_LIMITS, "grades": Rate(0, 60)}
    messages = [m.msg for m in run_checks(tags=["gradefreeze_settings"])]
    assert any("EDX_RATE_LIMITS: grades=0/60s is out of range" in m for m in messages), messages


def test_an_unknown_endpoint_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown LMS endpoint"):
        rate_limits.acquire("gradez")


@pytest.fixture
def tight_grades(settings, monkeypatch):
    """4 grade requests a second, no margin, on the in-process window."""
    settings.REDIS_URL = ""
    settings.EDX_RATE_LIMITS = {**settings.EDX_RATE_LIMITS, "grades": Rate(4, 1)}
    monkeypatch.setattr(rate_limits, "MARGIN_S", 0.0)
    rate_limits.reset()
    yield
    rate_limits.reset()


def _most_in_any_window(times, window_s):
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + window_s) for i, start in enumerate(times))


def test_acquire_blocks_once_the_window_is_full(tight_grades):
    started = time.monotonic()
    times = []
    for _ in range(9):
        rate_limits.acquire(rate_limits.GRADES)
        times.append(time.monotonic())
    assert times[-1] - started >= 2.0  # 4 now, 4 after a second, the ninth after two
    assert _most_in_any_window(times, 0.95) <= 4


def test_acquire_async_waits_without_blocking_the_loop(tight_grades):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        times = []

        async def one():
            await rate_limits.acquire_async(rate_limits.GRADES)
            times.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(9)))
        tick_task.cancel()
        return started, times, ticks

    started, times, ticks = asyncio.run(main())
    assert max(times) - started >= 2.0
    assert _most_in_any_window(times, 0.95) <= 4
    assert ticks >= 100  # the loop kept running while the nine waited


def test_an_endpoint_without_a_limit_never_waits(settings):
    settings.REDIS_URL = ""
    started = time.monotonic()
    for _ in range(1000):
        rate_limits.acquire(rate_limits.CERTIFICATES)
    assert time.monotonic() - started < 1.0
