"""One freeze of the benchmark's run by a real Celery worker in one mode, measured, checked
and reverted."""

import io
import os
import time
from dataclasses import dataclass, field

import redis
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from bench.expected import EXPECTED_TABLE, count_wrong
from bench.processes import PeakRss, WorkerProcess, own_peak_rss_mb
from bench.seeding import RUN_KEY, SAMPLE_RUN_KEY, analyze, expire_learner_tokens
from bench.throttles import throttle_figures
from courses.models import CourseRun
from grades.api import revert_freeze
from grades.models import CourseRunGradingStatus, FinalGrade, FinalGradeAudit, FreezeFailure
from grades.selectors import has_final_grade, population
from sandbox.dataset import DEFAULT_STAFF_CLIENT


@dataclass(frozen=True)
class Mode:
    """How the worker reads the LMS (its environment) and which run it freezes."""

    name: str
    run_key: str
    env: dict = field(default_factory=dict)


MODES = {
    "course-wide": Mode(
        "course-wide",
        RUN_KEY,
        {
            "FREEZE_MODE": "course_wide",
            "EDXORG_STAFF_CLIENT_ID": DEFAULT_STAFF_CLIENT["client_id"],
            "EDXORG_STAFF_CLIENT_SECRET": DEFAULT_STAFF_CLIENT["client_secret"],
        },
    ),
    "per-learner": Mode("per-learner", RUN_KEY, {"FREEZE_MODE": "per_learner"}),
    # The original design: one learner after another in each task.
    "concurrency-1": Mode(
        "concurrency-1",
        SAMPLE_RUN_KEY,
        {"FREEZE_MODE": "per_learner", "FREEZE_LEARNER_CONCURRENCY": "1"},
    ),
}


class FreezeDidNotComplete(Exception):
    """The worker died, or the run was not complete in time: the mode has no figures."""


def run_mode(mode, bench) -> dict:
    """Freeze the mode's run with a fresh worker; measure it, check it, revert it."""
    from gradefreeze.celery import app

    course_run = CourseRun.objects.select_related("course").get(edx_course_key=mode.run_key)
    revert_freeze(course_run)
    expire_learner_tokens()
    counter = redis.Redis.from_url(bench.redis_url)
    counter_key = f"{bench.queue}:sql-statements:{mode.name}"
    bench.sandbox.reset_stats()
    worker = WorkerProcess(
        f"bench-{mode.name}",
        bench.queue,
        bench.worker_concurrency,
        {**bench.worker_env, **mode.env, "GRADEFREEZE_SQL_COUNTER": counter_key},
        bench.var_dir / f"worker-{mode.name}.log",
    )
    try:
        worker.wait_ready(app)
        rss = PeakRss(worker.process.pid)
        sandbox_cpu = bench.sandbox.cpu_seconds()
        started = timezone.now()
        call_command("freeze_final_grades", mode.run_key, stdout=io.StringIO())
        completed_on = _wait_complete(course_run, worker, bench.timeout_s)
        wall = (completed_on - started).total_seconds()
        sandbox_cpu = bench.sandbox.cpu_seconds() - sandbox_cpu
        lms = bench.sandbox.stats()
        peak_rss, peak_pss = rss.stop(), rss.peak_pss
    finally:
        worker.stop()
    check = check_freeze(course_run)
    statements = int(counter.getdel(counter_key) or 0)
    # the revert after the check archives the run's final grades, a batch at a time
    bench_rss_before_revert = own_peak_rss_mb()
    reverting = time.monotonic()
    revert_freeze(course_run)
    learners = check["population"]
    return {
        "mode": mode.name,
        "course_run": mode.run_key,
        "worker_env": mode.env,
        "learners": learners,
        "wall_s": round(wall, 2),
        "learners_per_s": round(learners / wall, 1),
        "lms_requests": sum(lms["requests"].values()),
        "lms_requests_by_endpoint": lms["requests"],
        "lms_statuses": lms["statuses"],
        "sql_statements": statements,
        "sql_statements_per_learner": round(statements / learners, 2),
        "worker_peak_rss_mb": round(peak_rss / 2**20, 1),
        "worker_peak_pss_mb": round(peak_pss / 2**20, 1),
        "sandbox_cpu_share": round(sandbox_cpu / wall, 2),
        "lms_throttled": lms.get("throttled", {}),
        "lms_peak_per_minute": lms.get("peak_per_minute", {}),
        "throttles": throttle_figures(mode.name, bench.sandbox.settings(), lms, wall),
        # the machine is shared: how busy it was while this mode ran
        "load_average_1m": round(os.getloadavg()[0], 2),
        "check": check,
        "revert_s": round(time.monotonic() - reverting, 2),
        "bench_peak_rss_mb_before_revert": bench_rss_before_revert,
    }


def _wait_complete(course_run, worker, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = (
            CourseRunGradingStatus.objects.filter(course_run=course_run)
            .values("status", "completed_on")
            .first()
        )
        if status and status["status"] == CourseRunGradingStatus.COMPLETE:
            return status["completed_on"]
        if not worker.alive():
            raise FreezeDidNotComplete(f"the worker exited ({worker.process.returncode})")
        time.sleep(0.2)
    raise FreezeDidNotComplete(f"not complete after {timeout_s:g} s")


def check_freeze(course_run) -> dict:
    """Every learner of the population frozen exactly once, audited once, with the final
    grade the dataset implies (`bench.expected`); or failed with a recorded reason. Counted
    in SQL, so that a million learners are not loaded in the bench's memory."""
    analyze()  # the freeze's rows are fresh
    learners = population(course_run)
    frozen = FinalGrade.objects.filter(course_run=course_run)
    frozen_users = frozen.values("user_id")
    population_sql, population_params = learners.values("id").query.sql_with_params()
    wrong = count_wrong(
        f"SELECT f.grade, f.passed, f.paid, e.grade, e.passed, e.paid"
        f" FROM {FinalGrade._meta.db_table} f LEFT JOIN ("
        f"  SELECT * FROM {EXPECTED_TABLE}"
        f"  WHERE course_run_id = %s AND user_id IN ({population_sql})"
        f") e ON e.user_id = f.user_id WHERE f.course_run_id = %s",
        [course_run.id, *population_params, course_run.id],
    )
    audits = (
        FinalGradeAudit.objects.filter(
            action=FinalGradeAudit.CREATED, final_grade_id__in=frozen.values("id")
        )
        .values("final_grade_id")
        .annotate(n=Count("id"))
    )
    failures = FreezeFailure.objects.filter(grading_status__course_run=course_run)
    by_reason = {
        f"{row['stage']}: {row['reason']} ({row['http_status']})": row["n"]
        for row in failures.values("stage", "reason", "http_status").annotate(n=Count("id"))
    }
    failed = sum(by_reason.values())
    result = {
        "population": learners.count(),
        "frozen": frozen.count(),
        "failed": failed,
        "failures_by_reason": by_reason,
        "duplicates": frozen.count() - frozen_users.distinct().count(),
        "missing": learners.filter(~has_final_grade(course_run)).count() - failed,
        "wrong_values": wrong,
        "audited_once": audits.filter(n=1).count(),
        "audited_more_than_once": audits.filter(n__gt=1).count(),
    }
    result["ok"] = (
        result["frozen"] + failed == result["population"]
        and result["duplicates"] == 0
        and result["missing"] == 0
        and result["wrong_values"] == 0
        and result["audited_once"] == result["frozen"]
        and result["audited_more_than_once"] == 0
        and failed == 0
    )
    return result
