"""Counts of requests, answers, faults and throttling, for tests and the benchmark."""

from collections import Counter, deque

PEAK_WINDOW_S = 60.0


class Stats:
    """Per endpoint: requests, answers by status, faults that hit, requests abandoned by
    their client, answers refused by a rate limit, and the most requests received in any
    60-second window (so a client's own limiter can be checked against edX's limits)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests: Counter = Counter()
        self.answers: Counter = Counter()
        self.faults: Counter = Counter()
        self.abandoned: Counter = Counter()
        self.throttled: Counter = Counter()
        self.peaks: Counter = Counter()
        self._recent: dict[str, deque] = {}

    def arrived(self, endpoint: str, now: float) -> None:
        """Count a request, and its endpoint's requests in the minute up to `now`."""
        self.requests[endpoint] += 1
        recent = self._recent.get(endpoint)
        if recent is None:
            recent = self._recent[endpoint] = deque()
        recent.append(now)
        cutoff = now - PEAK_WINDOW_S
        while recent[0] <= cutoff:
            recent.popleft()
        if len(recent) > self.peaks[endpoint]:
            self.peaks[endpoint] = len(recent)

    def snapshot(self) -> dict:
        statuses: Counter = Counter()
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), n in self.answers.items():
            statuses[str(status)] += n
            by_endpoint.setdefault(endpoint, {})[str(status)] = n
        return {
            "requests": dict(self.requests),
            "statuses": dict(statuses),
            "endpoints": by_endpoint,
            "faults": dict(self.faults),
            "abandoned": dict(self.abandoned),
            "throttled": dict(self.throttled),
            "peak_per_minute": dict(self.peaks),
            "in_flight": self.in_flight,
        }
