"""The course-wide transport's waits between retries: urllib3's backoff, and a 503's
Retry-After (a 429 goes back through the rate limiter: tests/unit/test_lms_throttled.py)."""

from email.utils import format_datetime

from django.utils import timezone

from dashboard.lms_async import StaffAnswer, backoff_s, wait_s
from dashboard.rate_limits import retry_after_seconds


def test_the_first_retry_waits_none_then_the_backoff_doubles_with_jitter_up_to_30_s():
    assert backoff_s(1, 0.5) == 0.0
    for _ in range(50):
        assert 1.0 <= backoff_s(2, 0.5) <= 1.5
        assert 2.0 <= backoff_s(3, 0.5) <= 2.5
    assert backoff_s(12, 0.5) == 30


def test_retry_after_in_seconds_or_as_an_http_date():
    assert retry_after_seconds("7") == 7.0
    later = timezone.now() + timezone.timedelta(seconds=20)
    assert 18 <= retry_after_seconds(format_datetime(later, usegmt=True)) <= 20
    assert retry_after_seconds("soon") is None


def test_a_5xx_waits_the_backoff_but_a_503_what_its_retry_after_asks():
    assert wait_s(StaffAnswer(502, b""), "12", 1, 0.5) == 0.0
    assert 1.0 <= wait_s(StaffAnswer(502, b""), "12", 2, 0.5) <= 1.5
    assert wait_s(StaffAnswer(503, b""), "12", 2, 0.5) == 12.0
    assert 1.0 <= wait_s(StaffAnswer(503, b""), None, 2, 0.5) <= 1.5
