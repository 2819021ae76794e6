"""Latency: every edX answer waits, without holding up the others."""

import time
from concurrent.futures import ThreadPoolExecutor

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"


def timed_grade(edx, sandbox, username):
    started = time.monotonic()
    grade = edx(sandbox, f"at-{username}-0").current_grades.get_student_current_grade(
        username, ANALOG
    )
    return grade, time.monotonic() - started


def test_every_answer_waits_for_the_latency(run_sandbox, dataset, edx):
    sandbox = run_sandbox(dataset, latency_ms=200)

    grade, elapsed = timed_grade(edx, sandbox, "bob")

    assert grade.percent == 0.67
    assert elapsed >= 0.2


def test_concurrent_requests_wait_side_by_side(run_sandbox, dataset, edx):
    sandbox = run_sandbox(dataset, latency_ms=200)
    learners = ["alice", "bob", "carol"] * 17

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(learners)) as pool:
        answers = list(pool.map(lambda u: timed_grade(edx, sandbox, u), learners))
    total = time.monotonic() - started

    assert len(answers) == 51
    assert all(elapsed >= 0.2 for _, elapsed in answers)
    assert total < 3.0  # one after another would take 51 x 0.2 s = 10.2 s


def test_control_endpoints_answer_without_latency(run_sandbox, dataset, control):
    sandbox = run_sandbox(dataset, latency_ms=1000)

    started = time.monotonic()
    control(sandbox, "GET", "health")

    assert time.monotonic() - started < 0.5
