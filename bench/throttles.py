"""The throttle floor: the least wall time edX's rate limits allow a freeze, and whether
the freeze kept to them.

For each throttled endpoint a mode sends to, the requests it needed (those the sandbox
let through) divided by the endpoint's rate limit; the floor is the largest of these.
The sandbox counts, per endpoint, the answers it refused (429, or 403 at the token
endpoint) and the most requests it received in any 60-second window.
"""

from sandbox.settings import parse_rate

# The limits that count a mode's requests as one principal: the staff client's user for
# the course-wide enrollment listing, this machine's IP at the token endpoint. The
# per-learner enrollment limit is per learner (one or two requests each): never binding.
LIMITS = {
    "course-wide": {"enrollments": "enrollments_staff", "token": "token"},
    "per-learner": {"token": "token"},
    "concurrency-1": {"token": "token"},
}


def throttle_figures(mode: str, sandbox_settings: dict, stats: dict, wall_s: float) -> dict:
    """The throttle floor of one mode's run and how close the run kept to the limits;
    {} when the sandbox ran without throttles."""
    if sandbox_settings.get("throttles") != "edx":
        return {}
    endpoints = {}
    for endpoint, name in LIMITS.get(mode, {}).items():
        rate = parse_rate(sandbox_settings["rates"][name], name)
        if rate is None:
            continue
        refused = stats.get("throttled", {}).get(endpoint, 0)
        needed = stats["requests"].get(endpoint, 0) - refused
        per_minute = rate.limit * 60 / rate.period_s
        peak = stats.get("peak_per_minute", {}).get(endpoint, 0)
        endpoints[endpoint] = {
            "limit": rate.text,
            "requests_needed": needed,
            "floor_s": round(needed * rate.period_s / rate.limit, 1),
            "peak_per_minute": peak,
            "over_limit_in_peak_minute": max(0, peak - int(per_minute)),
            "refused": refused,
        }
    floor = max((e["floor_s"] for e in endpoints.values()), default=0.0)
    return {
        "throttle_floor_s": floor,
        "wall_over_throttle_floor": round(wall_s / floor, 2) if floor else None,
        "refused": sum(stats.get("throttled", {}).values()),
        "status_429": stats["statuses"].get("429", 0),
        "peak_per_minute": stats.get("peak_per_minute", {}),
        "endpoints": endpoints,
    }
