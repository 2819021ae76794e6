"""gradefreeze.checks: settings that parse but cannot work are refused at start-up."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.conftest import ROOT


def test_the_defaults_pass(settings):
    call_command("check", tags=["gradefreeze_settings"])


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("FREEZE_CHUNK_SIZE", 0),
        ("FREEZE_PAGE_SIZE", -1),
        ("FREEZE_LEARNER_CONCURRENCY", 0),
        ("EDX_RETRIES", -1),
        ("EDX_REQUEST_TIMEOUT", 0),
        ("FREEZE_HEARTBEAT_SECONDS", 0),
        ("FREEZE_MAX_DELIVERIES", 0),
        ("CELERY_TASK_SOFT_TIME_LIMIT", 0),
    ],
)
def test_a_value_out_of_range_fails_the_check_naming_it(settings, setting, value):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError) as refused:
        call_command("check", tags=["gradefreeze_settings"])
    assert f"{setting}={value!r} is out of range" in str(refused.value)


def test_a_soft_time_limit_not_below_the_hard_one_is_refused(settings):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = settings.CELERY_TASK_TIME_LIMIT
    with pytest.raises(SystemCheckError, match="must be below CELERY_TASK_TIME_LIMIT"):
        call_command("check", tags=["gradefreeze_settings"])


def test_a_hard_time_limit_not_below_the_visibility_timeout_is_refused(settings):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 3500
    settings.CELERY_TASK_TIME_LIMIT = 3600
    with pytest.raises(SystemCheckError, match="below the broker's visibility timeout"):
        call_command("check", tags=["gradefreeze_settings"])


def test_a_variable_that_does_not_parse_stops_manage_py_in_one_line(tmp_path):
    env = {**os.environ, "FREEZE_CHUNK_SIZE": "fifty", "GRADEFREEZE_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "The environment variable FREEZE_CHUNK_SIZE='fifty' is not a whole number." in (
        result.stderr
    )


def test_a_worker_does_not_start_on_a_value_out_of_range(tmp_path):
    env = {
        **os.environ,
        "FREEZE_CHUNK_SIZE": "0",
        "GRADEFREEZE_VAR_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "memory://",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "gradefreeze", "worker", "--pool", "solo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "FREEZE_CHUNK_SIZE=0 is out of range" in result.stdout + result.stderr
