"""`python -m bench`: the benchmark of the freeze (scripts/bench runs it; see README)."""

import argparse
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ROOT, SandboxProcess, own_peak_rss_mb

MODE_ORDER = ("floor", "course-wide", "per-learner", "concurrency-1")


@dataclass
class Bench:
    """What every mode of one benchmark run shares."""

    learners: int
    sandbox: SandboxProcess
    database_url: str
    redis_url: str
    queue: str
    worker_env: dict
    worker_concurrency: int
    var_dir: Path
    timeout_s: float


def _modes(text):
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODE_ORDER]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"modes are among {', '.join(MODE_ORDER)}")
    return [m for m in MODE_ORDER if m in modes]


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Seed N learners in PostgreSQL and the sandbox, then freeze their run "
        "with a real Celery worker in each mode, and measure the floor.",
    )
    parser.add_argument("--learners", type=_positive, default=10000, help="N (default 10000)")
    parser.add_argument(
        "--baseline-sample",
        type=_positive,
        default=1000,
        help="learners the concurrency-1 mode freezes (at most N; default 1000)",
    )
    parser.add_argument(
        "--modes",
        type=_modes,
        default=None,
        help=f"comma-separated, among {','.join(MODE_ORDER)} (default: all)",
    )
    parser.add_argument(
        "--throttles",
        choices=("off", "edx"),
        default="off",
        help="the sandbox's rate limits: off (default), or edx-platform's defaults; with edx "
        "the default mode is course-wide (per-learner refreshes a token a learner, at 120 a "
        "minute), and each mode reports its throttle floor, the answers refused and the "
        "peak requests a minute per endpoint",
    )
    parser.add_argument("--out", type=Path, help="JSON file (default var/bench/bench-N.json)")
    parser.add_argument("--latency-ms", type=float, default=20, help="on every LMS answer")
    parser.add_argument("--worker-concurrency", type=_positive, default=2)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gf_bench"),
        help="the benchmark's own database: dropped and created anew",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--timeout", type=float, help="seconds a mode may take (default by N)")
    args = parser.parse_args(argv)
    if args.modes is None:
        args.modes = list(MODE_ORDER) if args.throttles == "off" else ["course-wide"]
    if args.throttles != "off" and "floor" in args.modes:
        parser.error("the floor ignores rate limits: with --throttles edx, see the throttle floor")
    return args


def say(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    sample = min(args.baseline_sample, args.learners)
    # A queue of this run's own: no task left over from an interrupted run can reach it.
    queue = f"gradefreeze-bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="gradefreeze.settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CELERY_BROKER_URL=args.redis_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
    )
    import django
    import redis

    django.setup()
    from bench import report, seeding

    var_dir = ROOT / "var" / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.throttles == "off" else f"-throttles-{args.throttles}"
    out = args.out or var_dir / f"bench-{args.learners}{suffix}.json"

    say(f"database {args.database_url}: dropping and creating it, migrating")
    seeding.recreate_database(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    data_file = var_dir / f"sandbox-{args.learners}.json"
    seeded = seeding.seed(args.learners, sample, data_file, say)
    say(
        f"dataset: {args.learners} learners ({seeded['dataset_seconds']:.1f} s), seeded the "
        f"platform in {seeded['seconds']:.1f} s; sandbox starting"
    )
    started = time.monotonic()
    sandbox = SandboxProcess(
        data_file,
        args.latency_ms,
        var_dir / "sandbox.log",
        args.throttles,
        # it reads and checks the whole file first: 14 s at 200,000 learners, 92 s at 1,000,000 here
        startup_timeout_s=max(120, args.learners * 0.0005),
    )
    sandbox_start = time.monotonic() - started
    say(f"sandbox serving after {sandbox_start:.1f} s, RSS {sandbox.rss_mb():.0f} MB")
    try:
        bench = Bench(
            learners=args.learners,
            sandbox=sandbox,
            database_url=args.database_url,
            redis_url=args.redis_url,
            queue=queue,
            worker_env={
                **os.environ,
                "EDXORG_BASE_URL": sandbox.url,
                # The platform keeps to edx-platform's limits unless told the LMS has none.
                **(
                    {"EDX_RATE_LIMITS": "token=off,enrollments=off"}
                    if args.throttles == "off"
                    else {}
                ),
            },
            worker_concurrency=args.worker_concurrency,
            var_dir=var_dir,
            timeout_s=args.timeout or max(600, args.learners * 0.2),
        )
        figures = {
            "commit": _commit(),
            "learners": args.learners,
            "baseline_sample": sample,
            "latency_ms": args.latency_ms,
            "worker_concurrency": args.worker_concurrency,
            "cpus": os.cpu_count(),
            "throttles": args.throttles,
            "sandbox_settings": sandbox.settings(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
            "dataset_seconds": round(seeded["dataset_seconds"], 1),
            "seed_seconds": round(seeded["seconds"], 1),
            "sandbox_start_seconds": round(sandbox_start, 1),
            "results": {},
        }

        def record(results):
            """Write the figures so far after each mode, so a long run that dies keeps them."""
            figures.update(
                results=results,
                ratios=report.ratios(results),
                passed_share=_passed_share(results),
                **peak_memory(sandbox),
            )
            report.write_json(out, figures)

        results = run_modes(bench, args.modes, seeded["runs"], record)
    finally:
        sandbox.stop()
        redis.Redis.from_url(args.redis_url).delete(queue)

    print(report.table(results))
    memory = peak_memory(sandbox)
    print(
        f"peak RSS: bench {memory['bench_peak_rss_mb']} MB, "
        f"sandbox {memory['sandbox_peak_rss_mb']} MB"
    )
    print(f"figures written to {out}")
    return 0 if all(r["check"]["ok"] for r in results.values()) else 1


def run_modes(bench, modes, runs, record) -> dict:
    from bench.floor import measure_floor
    from bench.modes import MODES, FreezeDidNotComplete, run_mode

    results = {}
    for name in modes:
        say(f"{name}: running")
        try:
            if name == "floor":
                result = measure_floor(bench, runs[MODES["course-wide"].run_key])
            else:
                result = run_mode(MODES[name], bench)
        except FreezeDidNotComplete as error:
            say(f"{name}: FAILED: {error}")
            results[name] = {"mode": name, "error": str(error), "check": {"ok": False}}
            record(results)
            continue
        results[name] = result
        record(results)
        say(
            f"{name}: {result['learners']} learners in {result['wall_s']} s "
            f"({result['learners_per_s']}/s), check {'ok' if result['check']['ok'] else 'FAILED'}"
        )
    return results


def peak_memory(sandbox) -> dict:
    """The bench process's own peak RSS and the sandbox's (the kernel's high-water marks)."""
    return {
        "bench_peak_rss_mb": own_peak_rss_mb(),
        "sandbox_peak_rss_mb": sandbox.peak_rss_mb(),
    }


def _commit():
    import subprocess

    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return found.stdout.strip() or None


def _passed_share(results):
    from django.db import connection

    from bench.floor import FLOOR_TABLE

    if "floor" not in results:
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT avg(passed::int) FROM {FLOOR_TABLE}")
        share = cursor.fetchone()[0]
    return None if share is None else round(float(share), 3)


if __name__ == "__main__":
    sys.exit(main())
