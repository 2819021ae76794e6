"""The rate limits' bookkeeping, with a clock the tests move: DRF and django-ratelimit."""

import zlib

import pytest

from sandbox.settings import SettingsError, parse_rate, parse_settings
from sandbox.throttles import FixedWindowLimit, SlidingWindowThrottle


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_a_sliding_window_refuses_past_its_limit_and_says_how_long_to_wait():
    """DRF throttling.py SimpleRateThrottle.allow_request and wait: the oldest allowed
    request leaves the window `duration` after it was made."""
    clock = Clock()
    throttle = SlidingWindowThrottle(parse_rate("2/minute", "rate"), clock)

    assert throttle.wait("bob") is None
    clock.now += 10
    assert throttle.wait("bob") is None
    clock.now += 5
    assert throttle.wait("bob") == pytest.approx(45)


def test_a_refused_request_is_not_recorded():
    """SimpleRateThrottle.throttle_failure leaves the history alone."""
    clock = Clock()
    throttle = SlidingWindowThrottle(parse_rate("1/minute", "rate"), clock)
    throttle.wait("bob")
    for _ in range(5):
        clock.now += 10
        assert throttle.wait("bob") is not None

    clock.now += 10  # 60 s after the one allowed request

    assert throttle.wait("bob") is None


def test_each_principal_has_its_own_window():
    throttle = SlidingWindowThrottle(parse_rate("1/minute", "rate"), Clock())
    throttle.wait("bob")

    assert throttle.wait("alice") is None


def test_idle_principals_are_forgotten():
    clock = Clock()
    throttle = SlidingWindowThrottle(parse_rate("1/minute", "rate"), clock)
    for n in range(1000):
        throttle.wait(f"learner{n}")
    clock.now += 61

    throttle.wait("bob")

    assert len(throttle._histories) == 1


def test_a_fixed_window_ends_at_an_offset_given_by_the_key():
    """django-ratelimit core.py _get_window: windows staggered by crc32(key) % period."""
    offset = zlib.crc32(b"127.0.0.1") % 60
    clock = Clock(6000 + offset - 1)  # one second before the window ends
    limit = FixedWindowLimit(parse_rate("1/m", "rate"), clock)

    assert limit.limited("127.0.0.1") is False
    assert limit.limited("127.0.0.1") is True
    clock.now += 1  # the window's last second
    assert limit.limited("127.0.0.1") is True
    clock.now += 1  # a fresh window
    assert limit.limited("127.0.0.1") is False


def test_a_fixed_window_counts_the_refused_requests():
    """is_ratelimited(increment=True) increments before comparing: count > limit."""
    clock = Clock(0)
    limit = FixedWindowLimit(parse_rate("2/h", "rate"), clock)

    assert [limit.limited("1.2.3.4") for _ in range(4)] == [False, False, True, True]


@pytest.mark.parametrize(
    "text, limit, period",
    [("40/minute", 40, 60), ("120/m", 120, 60), ("100/5m", 100, 300), ("7/day", 7, 86400)],
)
def test_rates_are_read_as_drf_and_django_ratelimit_write_them(text, limit, period):
    rate = parse_rate(text, "rate")

    assert (rate.limit, rate.period_s) == (limit, period)


@pytest.mark.parametrize("text", ["fast", "10", "10/fortnight", "-1/m"])
def test_a_rate_that_does_not_parse_is_refused(text):
    with pytest.raises(SettingsError, match="rate"):
        parse_rate(text, "rate")


def test_settings_default_to_edx():
    settings = parse_settings(None)

    assert (settings.rate("enrollments_user").limit, settings.rate("enrollments_staff").limit) == (
        40,
        120,
    )
    assert (settings.rate("token").limit, settings.refresh_token_expire_seconds) == (120, 7776000)


def test_throttles_off_leaves_no_rate_in_force():
    settings = parse_settings({"throttles": "off"})

    assert settings.rate("token") is None


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"throtles": "off"}, "unknown key"),
        ({"rates": {"grades": "1/m"}}, "unknown rate"),
        ({"throttles": "some"}, "'edx' or 'off'"),
        ({"jwt_expire_seconds": 0}, "jwt_expire_seconds"),
    ],
)
def test_meaningless_settings_are_refused(raw, problem):
    with pytest.raises(SettingsError, match=problem):
        parse_settings(raw)
