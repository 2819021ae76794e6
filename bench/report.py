"""The benchmark's table and its JSON file."""

import json

COLUMNS = (
    ("mode", "mode", "{}"),
    ("learners", "learners", "{}"),
    ("wall s", "wall_s", "{:.1f}"),
    ("learners/s", "learners_per_s", "{:.0f}"),
    ("LMS requests", "lms_requests", "{}"),
    ("SQL statements/learner", "sql_statements_per_learner", "{:.2f}"),
    ("worker peak RSS MB", "worker_peak_rss_mb", "{:.0f}"),
    ("sandbox CPU", "sandbox_cpu_share", "{:.0%}"),
    ("check", "check", "{}"),
)


def _cell(result, key, form):
    value = result.get(key)
    if key == "check":
        return "ok" if value and value["ok"] else "FAILED"
    return "-" if value is None else form.format(value)


def ratios(results: dict) -> dict:
    """course-wide wall / floor wall, per-learner rate / concurrency-1 rate (when measured)."""
    found = {}
    course_wide, floor = results.get("course-wide", {}), results.get("floor", {})
    if "wall_s" in course_wide and "wall_s" in floor:
        found["course_wide_wall_over_floor"] = round(course_wide["wall_s"] / floor["wall_s"], 2)
    per_learner, baseline = results.get("per-learner", {}), results.get("concurrency-1", {})
    if "learners_per_s" in per_learner and "learners_per_s" in baseline:
        found["per_learner_rate_over_concurrency_1"] = round(
            per_learner["learners_per_s"] / baseline["learners_per_s"], 2
        )
    return found


def table(results: dict) -> str:
    rows = [[title for title, _, _ in COLUMNS]]
    rows += [[_cell(r, key, form) for _, key, form in COLUMNS] for r in results.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    for name, value in ratios(results).items():
        lines.append(f"{name.replace('_', ' ')}: {value}")
    for name, result in results.items():
        throttles = result.get("throttles")
        if throttles:
            ratio = throttles["wall_over_throttle_floor"]
            lines.append(
                f"{name}: wall {result['wall_s']:.1f} s, throttle floor "
                f"{throttles['throttle_floor_s']:.1f} s (x{ratio}), {throttles['status_429']} "
                f"answers 429, {throttles['refused']} refused, peak a minute "
                + ", ".join(f"{e} {n}" for e, n in sorted(throttles["peak_per_minute"].items()))
            )
            for endpoint, figures in throttles["endpoints"].items():
                lines.append(
                    f"  {endpoint}: {figures['requests_needed']} requests at {figures['limit']}: "
                    f"{figures['floor_s']} s; peak {figures['peak_per_minute']} a minute, "
                    f"{figures['over_limit_in_peak_minute']} over the limit"
                )
    return "\n".join(lines)


def write_json(path, figures: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
