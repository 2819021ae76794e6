"""check_edx_connection against the sandbox over HTTP: each wiring problem named, with
its own exit status."""

import subprocess
import sys

import pytest

from bench.processes import free_port
from sandbox.dataset import DEFAULT_CLIENT, DEFAULT_STAFF_CLIENT, generate
from tests.conftest import ROOT
from tests.integration.conftest import COURSE_KEY

pytestmark = pytest.mark.integration

WIRED = {
    "EDXORG_CLIENT_ID": DEFAULT_CLIENT["client_id"],
    "EDXORG_CLIENT_SECRET": DEFAULT_CLIENT["client_secret"],
    "EDXORG_STAFF_CLIENT_ID": DEFAULT_STAFF_CLIENT["client_id"],
    "EDXORG_STAFF_CLIENT_SECRET": DEFAULT_STAFF_CLIENT["client_secret"],
}


@pytest.fixture
def lms(start_sandbox):
    dataset = generate(learners=3, course_keys=(COURSE_KEY,), revoked=0)
    dataset["clients"].append(
        {
            "client_id": "reporting",
            "client_secret": "reporting-secret",
            "grant_type": "client-credentials",
            "staff": False,
        }
    )
    return start_sandbox(dataset)


@pytest.fixture
def check(operator_env):
    def run(**env):
        return subprocess.run(
            [sys.executable, "manage.py", "check_edx_connection"],
            cwd=ROOT,
            env={**operator_env(), **WIRED, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_a_good_setup_passes_both_clients(lms, check):
    done = check()

    assert done.returncode == 0, done.stderr
    assert "sign-in client 'gradefreeze' (EDXORG_CLIENT_ID): ok" in done.stdout
    assert "staff client 'gradefreeze-staff' (EDXORG_STAFF_CLIENT_ID): ok" in done.stdout
    assert done.stdout.rstrip().endswith("The LMS is wired right.")


def test_a_wrong_sign_in_secret_is_named(lms, check):
    done = check(EDXORG_CLIENT_SECRET="not-the-secret")

    assert done.returncode == 4
    assert "sign-in client 'gradefreeze'" in done.stderr
    assert "refuses its id or secret (invalid_client)" in done.stderr
    assert "staff client 'gradefreeze-staff' (EDXORG_STAFF_CLIENT_ID): ok" in done.stdout


def test_a_wrong_staff_secret_is_named(lms, check):
    done = check(EDXORG_STAFF_CLIENT_SECRET="not-the-secret")

    assert done.returncode == 6
    assert "staff client 'gradefreeze-staff'" in done.stderr
    assert "EDXORG_STAFF_CLIENT_SECRET" in done.stderr


def test_a_sign_in_client_that_is_a_client_credentials_application_is_named(lms, check):
    done = check(EDXORG_CLIENT_ID="reporting", EDXORG_CLIENT_SECRET="reporting-secret")

    assert done.returncode == 5
    assert "may not use the authorization-code grant (unauthorized_client)" in done.stderr


def test_a_staff_client_whose_user_lacks_staff_rights_is_named(lms, check):
    done = check(EDXORG_STAFF_CLIENT_ID="reporting", EDXORG_STAFF_CLIENT_SECRET="reporting-secret")

    assert done.returncode == 8
    assert "its token works but its user lacks staff rights (HTTP 403" in done.stderr


def test_an_unreachable_lms_is_named(check):
    done = check(EDXORG_BASE_URL=f"http://127.0.0.1:{free_port()}")

    assert done.returncode == 3
    assert "could not be reached" in done.stderr and "EDXORG_BASE_URL" in done.stderr
