"""The LMS's rate limits, with the semantics of the libraries edx-platform uses.

Two kinds, because edX uses two libraries:
- DRF's SimpleRateThrottle (the enrollment API's EnrollmentUserThrottle): each principal
  has a sliding window of the requests it was allowed; a refused request is not recorded,
  and the answer says how long until the oldest allowed one leaves the window.
- django-ratelimit (the token endpoint, per client IP): fixed windows whose ends are
  staggered by a hash of the key, counting every request, refused ones too.

Both are O(1) amortised per request and never block the event loop.
"""

import math
import time
import zlib
from collections import deque
from collections.abc import Callable

from sandbox.settings import Rate, SandboxSettings


class SlidingWindowThrottle:
    """DRF's SimpleRateThrottle for one scope: a history of allowed requests per key."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._histories: dict[str, deque] = {}
        self._next_sweep = clock() + rate.period_s

    def wait(self, key: str) -> float | None:
        """None if the request is allowed (and recorded), else the seconds to wait."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = deque()
        cutoff = now - self.rate.period_s
        while history and history[0] <= cutoff:
            history.popleft()
        if len(history) >= self.rate.limit:
            return self.rate.period_s - (now - history[0]) if history else self.rate.period_s
        history.append(now)
        return None

    def _sweep(self, now: float) -> None:
        """Forget principals idle for a whole period, so 100,000 learners cost no memory
        once they are done (amortised: one pass per period)."""
        cutoff = now - self.rate.period_s
        idle = [
            key for key, history in self._histories.items() if not history or history[-1] <= cutoff
        ]
        for key in idle:
            del self._histories[key]
        self._next_sweep = now + self.rate.period_s


class FixedWindowLimit:
    """django-ratelimit's `is_ratelimited(..., increment=True)` with `block=True`."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    def limited(self, key: str) -> bool:
        """Count this request in its key's window; True once the count exceeds the limit."""
        now = int(self._clock())
        window = self._window_end(key, now)
        end, count = self._windows.get(key, (window, 0))
        count = count + 1 if end == window else 1
        if len(self._windows) > 10_000 and key not in self._windows:
            self._windows = {k: v for k, v in self._windows.items() if v[0] >= now}
        self._windows[key] = (window, count)
        return count > self.rate.limit

    def _window_end(self, key: str, now: int) -> int:
        period = self.rate.period_s
        if period == 1:
            return now
        end = now - now % period + zlib.crc32(key.encode()) % period
        return end + period if end < now else end


def retry_seconds(wait: float) -> int:
    """The wait as DRF's Throttled exception states it: whole seconds, rounded up."""
    return math.ceil(wait)


class Throttles:
    """The limits of one sandbox: enrollment API per principal, token endpoint per IP."""

    def __init__(self, settings: SandboxSettings) -> None:
        def sliding(name: str) -> SlidingWindowThrottle | None:
            rate = settings.rate(name)
            return SlidingWindowThrottle(rate) if rate else None

        self.enrollments_user = sliding("enrollments_user")
        self.enrollments_staff = sliding("enrollments_staff")
        token = settings.rate("token")
        self.token = FixedWindowLimit(token) if token else None

    def enrollment_wait(self, key: str, staff: bool) -> float | None:
        """EnrollmentUserThrottle.allow_request: staff (or superusers) get their own scope."""
        throttle = self.enrollments_staff if staff else self.enrollments_user
        return throttle.wait(key) if throttle else None

    def token_limited(self, ip: str) -> bool:
        return self.token.limited(ip) if self.token else False
