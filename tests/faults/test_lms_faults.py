"""An LMS that fails: 5xx answers, timeouts and malformed payloads while a run is frozen."""

import random

import pytest

from tests.faults.conftest import assert_end_state, population_dataset, wait_for_complete

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_an_lms_answering_5xx_and_timing_out_has_most_learners_frozen_after_retries(
    platform, demo_run
):
    dataset = population_dataset(revoked=0)
    dataset["faults"] = {
        "grades": {"status": 503, "rate": 0.3},
        "certificates": {"status": 502, "rate": 0.3},
        "enrollments": {"timeout": True, "timeout_s": 3, "rate": 0.05},
    }
    lms = platform(dataset, latency_ms=5)
    lms.start_worker(EDX_REQUEST_TIMEOUT=1, EDX_RETRIES=4, EDX_RETRY_BACKOFF=0.05)
    assert lms.freeze_command().wait(timeout=60) == 0
    wait_for_complete(demo_run)
    failures = assert_end_state(lms, demo_run, dataset)
    assert lms.sandbox.stats()["faults"].keys() >= {"grades", "certificates", "enrollments"}
    assert len(failures) <= len(dataset["learners"]) // 20, "retries should save most learners"
    print(f"LMS faults hit {lms.sandbox.stats()['faults']}; {len(failures)} failed")
    assert {(stage, reason) for stage, reason, _ in failures.values()} <= {
        ("cache_refresh", "http_error"),
        ("cache_refresh", "timeout"),
    }


def test_learners_whose_lms_answers_are_malformed_fail_with_that_reason_and_no_one_else(
    platform, demo_run
):
    dataset = population_dataset(revoked=0)
    names = sorted(dataset["learners"])
    malformed = set(random.Random(4).sample(names, len(names) // 20))
    for n, name in enumerate(sorted(malformed)):
        endpoint = ("grades", "certificates", "enrollments")[n % 3]
        dataset["learners"][name]["faults"] = {endpoint: {"malformed": True}}
    lms = platform(dataset, latency_ms=5)
    lms.start_worker()
    assert lms.freeze_command().wait(timeout=60) == 0
    wait_for_complete(demo_run)
    failures = assert_end_state(lms, demo_run, dataset)
    assert set(failures) == malformed
    assert set(failures.values()) == {("cache_refresh", "malformed_response", None)}
