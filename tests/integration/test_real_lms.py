"""Freezing against an LMS that answers as edx-platform does, in both modes, on PostgreSQL,
Redis, real Celery workers and the sandbox over HTTP with edX's throttles on (issue 9):
names edX refuses in a batch, its rate limits with two workers, certificates being
generated or without configuration, a learner the listing drops, a learner who never
started, and JWT tokens."""

import copy
import json

import pytest
from django.core.management import call_command

from demo.api import seed_learners
from grades.api import FreezeState
from grades.models import FinalGrade, FreezeFailure
from sandbox.dataset import DEFAULT_STAFF_CLIENT, generate
from tests.conftest import expected_final_grade
from tests.integration.conftest import wait_for_state

pytestmark = pytest.mark.integration

MODES = ("per_learner", "course_wide")
# edX's throttles: RATELIMIT_RATE (the token endpoint, per client IP) and
# EnrollmentUserThrottle's staff scope (sandbox/settings.py EDX_RATES).
TOKEN_LIMIT = ENROLLMENTS_STAFF_LIMIT = 120


def mode_env(mode, settings, **extra):
    """The workers' environment for `mode`, and the same settings in this process (which
    orchestrates the freeze)."""
    env = {"FREEZE_MODE": mode, **extra}
    if mode == "course_wide":
        env["EDXORG_STAFF_CLIENT_ID"] = DEFAULT_STAFF_CLIENT["client_id"]
        env["EDXORG_STAFF_CLIENT_SECRET"] = DEFAULT_STAFF_CLIENT["client_secret"]
    for name, value in env.items():
        setattr(settings, name, value)
    return {name: str(value) for name, value in env.items()}


def dataset_of(course_run, learners, **options):
    options.setdefault("revoked", 0)
    return generate(learners=learners, course_keys=(course_run.edx_course_key,), **options)


def renamed(dataset, old, new):
    text = json.dumps(dataset["learners"].pop(old)).replace(old, new)
    dataset["learners"][new] = json.loads(text)


def frozen_values(course_run):
    return {
        row.user.username: (round(row.grade, 6), row.passed, row.paid)
        for row in FinalGrade.objects.filter(course_run=course_run).select_related("user")
    }


def failures(course_run):
    return {
        f.user.username: (f.stage, f.reason, f.http_status)
        for f in FreezeFailure.objects.filter(grading_status__course_run=course_run)
    }


def freeze(course_run, timeout=90):
    call_command("freeze_final_grades", course_run.edx_course_key)
    return wait_for_state(course_run, FreezeState.COMPLETE, timeout)


@pytest.mark.parametrize("mode", MODES)
def test_a_username_edx_refuses_in_a_batch_is_read_alone(
    mode, demo_run, start_sandbox, start_worker, settings
):
    """enrollments/forms.py CourseEnrollmentsApiListForm.clean_username validates every
    name with validate_username: a dotted name would make the whole batch a 400."""
    dataset = dataset_of(demo_run, 30)
    renamed(dataset, "learner00011", "jean.dupont")
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox, **mode_env(mode, settings))
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (30, 0)
    key = demo_run.edx_course_key
    assert frozen_values(demo_run)["jean.dupont"] == expected_final_grade(
        dataset["learners"]["jean.dupont"], key
    )
    assert sandbox.stats()["endpoints"]["enrollments"].get("400", 0) == 0


@pytest.mark.parametrize("mode", MODES)
def test_throttled_at_edx_defaults_two_workers_fail_nobody_and_keep_under_the_limits(
    mode, demo_run, start_sandbox, start_worker, settings
):
    """Throttles on at edX's defaults, two worker processes sharing the limiter through
    Redis: more requests than a minute's limit (150 refresh grants per learner; 130
    learners read alone with the staff token course-wide), no learner fails, and the
    sandbox never counts more requests in a minute than its limit."""
    dataset = dataset_of(demo_run, 150)
    if mode == "course_wide":
        for n in range(1, 131):  # names the listing refuses: each read alone
            renamed(dataset, f"learner{n:05d}", f"learner.{n:05d}")
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    env = mode_env(mode, settings, FREEZE_CHUNK_SIZE=25)
    for _ in range(2):
        start_worker(sandbox, **env)
    status = freeze(demo_run, timeout=240)
    assert (status.frozen, status.failed) == (150, 0)
    stats = sandbox.stats()
    peaks = stats["peak_per_minute"]
    print(f"{mode}: requests {stats['requests']}, peak a minute {peaks}")  # noqa: T201
    if mode == "per_learner":
        assert stats["requests"]["token"] >= 150
        assert peaks["token"] <= TOKEN_LIMIT
    else:
        assert stats["requests"]["enrollments"] > ENROLLMENTS_STAFF_LIMIT
        assert peaks["enrollments"] <= ENROLLMENTS_STAFF_LIMIT
        assert peaks.get("token", 0) <= TOKEN_LIMIT
    assert stats["throttled"] == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_generating_certificate_fails_the_learner_until_it_is_issued(
    mode, demo_run, start_sandbox, start_worker, settings, manage
):
    """certificates/data.py CertificateStatuses.generating is not final: the learner is
    not frozen as not passed but fails (certificate_generating); once edX has issued the
    certificate, retry_failed_final_grades freezes them as passed."""
    dataset = dataset_of(demo_run, 10, audit_share=0, no_certificate_share=0)
    learner = dataset["learners"]["learner00004"]
    learner["certificates"][0]["status"] = "generating"
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox, **mode_env(mode, settings))
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (9, 1)
    assert failures(demo_run) == {"learner00004": ("computation", "certificate_generating", None)}
    issued = copy.deepcopy(learner)
    issued["certificates"][0].update(
        status="downloadable", download_url="https://sandbox.example.com/certificates/1"
    )
    del issued["access_token"], issued["refresh_token"]  # the grants stay as they are
    sandbox.put_learner("learner00004", issued)
    result = manage("retry_failed_final_grades", demo_run.edx_course_key)
    assert result.returncode == 0, result.stderr
    status = wait_for_state(demo_run, FreezeState.COMPLETE)
    assert (status.frozen, status.failed) == (10, 0)
    assert frozen_values(demo_run)["learner00004"][1] is True


@pytest.mark.parametrize("mode", MODES)
def test_a_run_without_certificate_configuration_fails_those_with_web_certificates(
    mode, demo_run, start_sandbox, start_worker, settings
):
    """certificates/apis/v0/views.py CertificatesDetailView.get: a web certificate in a run
    with no active certificate configuration is a 404 no_certificate_configuration_for_course,
    which is not "no certificate": those learners fail with that reason."""
    dataset = dataset_of(demo_run, 20, audit_share=0, no_certificate_share=0.3)
    dataset["course_runs"] = [
        {"course_id": demo_run.edx_course_key, "certificates_configured": False}
    ]
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox, **mode_env(mode, settings))
    web_certificates = {
        name
        for name, learner in dataset["learners"].items()
        if learner["certificates"] and not learner["certificates"][0]["download_url"]
    }
    assert 0 < len(web_certificates) < 20
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (20 - len(web_certificates), len(web_certificates))
    assert failures(demo_run) == dict.fromkeys(
        web_certificates, ("cache_refresh", "no_certificate_configuration_for_course", 404)
    )
    assert sandbox.stats()["throttled"] == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_learner_dropped_from_the_course_listing_is_still_frozen(
    mode, demo_run, start_sandbox, start_worker, settings
):
    """grades/rest_api/v1/views.py CourseGradesView._get_user_grades leaves out a learner
    whose grade read raised (once, here): course-wide, they are read alone with the staff
    token; per learner, their own read is retried."""
    dataset = dataset_of(demo_run, 20)
    dataset["learners"]["learner00006"]["faults"] = {"grades": {"read_error": True, "times": 1}}
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox, **mode_env(mode, settings))
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (20, 0)
    key = demo_run.edx_course_key
    assert frozen_values(demo_run)["learner00006"] == expected_final_grade(
        dataset["learners"]["learner00006"], key
    )
    assert sandbox.stats()["faults"]["grades"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_learner_who_never_started_is_frozen_at_zero_not_passed(
    mode, demo_run, start_sandbox, start_worker, settings
):
    """grades/course_grade_factory.py CourseGradeFactory.read creates a zero grade for an
    enrolled learner with none (percent 0.0, passed false), listed and answered like any
    other: frozen at 0.0, not passed."""
    dataset = dataset_of(demo_run, 10, no_certificate_share=0)
    platform = copy.deepcopy(dataset)
    platform["learners"]["learner00008"]["grades"][0].update(percent=0.0, passed=False)
    seed_learners(platform)
    lms = dataset["learners"]["learner00008"]
    lms["grades"], lms["certificates"] = [], []
    sandbox = start_sandbox(dataset)
    start_worker(sandbox, **mode_env(mode, settings))
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (10, 0)
    mode_paid = lms["enrollments"][0]["mode"] in ("verified", "honor")
    assert frozen_values(demo_run)["learner00008"] == (0.0, False, mode_paid)


@pytest.mark.parametrize("mode", MODES)
def test_jwt_tokens_freeze_the_run(mode, demo_run, start_sandbox, start_worker, settings):
    """oauth_dispatch/views.py AccessTokenView.dispatch: token_type=jwt is answered with
    a JWT, which edX's APIs take as `Authorization: JWT ...`."""
    dataset = dataset_of(demo_run, 15)
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    start_worker(sandbox, **mode_env(mode, settings, EDX_TOKEN_TYPE="jwt"))
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (15, 0)
    assert sandbox.stats()["statuses"].get("401", 0) == 0


def test_sign_in_with_edx_asks_for_a_jwt_and_reads_the_user_api_with_it(
    live_server, start_sandbox, demo_run, worker_queue, settings
):
    """EDX_TOKEN_TYPE=jwt at sign-in: the code exchange asks token_type=jwt
    (oauth_dispatch/views.py AccessTokenView.dispatch answers a JWT), the user API is
    asked with `Authorization: JWT ...`, and the learner's link keeps the JWT."""
    import requests
    from social_django.models import UserSocialAuth

    from tests.signin_flow import platform_url, sign_in_with_edx

    settings.EDX_TOKEN_TYPE = "jwt"
    dataset = dataset_of(demo_run, 2)
    start_sandbox(dataset)
    page = sign_in_with_edx(requests.Session(), platform_url(live_server), "learner00001")
    assert page.status_code == 200 and page.url.endswith("/grades/"), page.text[:300]
    link = UserSocialAuth.objects.get(provider="edxorg", uid="learner00001")
    assert link.extra_data["token_type"] == "JWT"
    assert link.extra_data["access_token"].count(".") == 2
