"""Sign in with edX against the sandbox over HTTP: social-auth's authorization-code flow
with PKCE, the edX username asked of /api/user/v1/me, the tokens kept encrypted."""

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from social_django.models import UserSocialAuth

from bench.processes import free_port, wait_until
from dashboard.edx_tokens import is_encrypted
from demo.api import seed_learners
from grades import api
from grades.models import FinalGrade, FinalGradeAudit
from grades.tasks import send_chunks
from sandbox.dataset import generate
from tests.conftest import expected_final_grade
from tests.integration.conftest import (
    COURSE_KEY,
    wait_for_state,
)
from tests.signin_flow import platform_url, sign_in_with_edx

pytestmark = pytest.mark.integration


def stored_extra_data(user):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extra_data FROM social_auth_usersocialauth WHERE user_id = %s", [user.pk]
        )
        (raw,) = cursor.fetchone()
    return raw if isinstance(raw, dict) else json.loads(raw)


def test_a_new_learner_gets_a_user_and_an_edx_link_with_encrypted_tokens(
    live_server, start_sandbox, demo_run, worker_queue
):
    dataset = generate(learners=2, course_keys=(COURSE_KEY,), revoked=0)
    start_sandbox(dataset)
    before = int(time.time())

    page = sign_in_with_edx(requests.Session(), platform_url(live_server), "learner00001")

    assert page.status_code == 200 and page.url.endswith("/grades/"), page.text[:300]
    assert "My final grades" in page.text
    link = UserSocialAuth.objects.get(provider="edxorg", uid="learner00001")
    assert link.user.username == "learner00001"
    assert link.user.email == dataset["learners"]["learner00001"]["email"]
    assert link.extra_data["access_token"] and link.extra_data["refresh_token"]
    assert link.extra_data["access_token"] != dataset["learners"]["learner00001"]["access_token"]
    assert before <= link.extra_data["auth_time"] <= time.time()
    assert link.extra_data["expires_in"] == 36000
    raw = stored_extra_data(link.user)
    assert is_encrypted(raw["access_token"]) and is_encrypted(raw["refresh_token"])


def test_a_returning_learner_gets_fresh_tokens_on_the_same_account(
    live_server, start_sandbox, demo_run, worker_queue
):
    dataset = generate(learners=2, course_keys=(COURSE_KEY,), revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)
    seeded_user = User.objects.get(username="learner00002")

    page = sign_in_with_edx(requests.Session(), platform_url(live_server), "learner00002")

    assert page.url.endswith("/grades/")
    link = UserSocialAuth.objects.get(provider="edxorg", uid="learner00002")
    assert link.user_id == seeded_user.pk
    assert User.objects.filter(username__startswith="learner00002").count() == 1
    assert link.extra_data["access_token"] != "at-learner00002-0"
    assert link.extra_data["auth_time"] >= int(time.time()) - 60


def test_a_learner_whose_tokens_edx_revoked_links_again_and_gets_their_grade_frozen(
    live_server, start_sandbox, seeded, demo_run, start_worker
):
    dataset = seeded(learners=6)
    dataset["learners"]["learner00003"]["revoked"] = True
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    api.start_freeze(demo_run, lambda run: api.freeze_course_run(run, send_chunks))
    status = wait_for_state(demo_run, api.FreezeState.COMPLETE)
    assert (status.frozen, status.failed) == (5, 1)
    assert ("token_refresh", "reauthentication_required", 400) in status.failures_by_reason
    learner = User.objects.get(username="learner00003")

    page = sign_in_with_edx(requests.Session(), platform_url(live_server), "learner00003")

    assert page.url.endswith("/grades/")
    wait_until(
        lambda: FinalGrade.objects.filter(user=learner, course_run=demo_run).exists(),
        60,
        "the sign-in to freeze the learner's grade",
    )
    audit = FinalGradeAudit.objects.get(user_id=learner.pk, course_run_id=demo_run.pk)
    assert audit.actor == "sign-in of learner00003"
    status = api.freeze_status(demo_run)
    assert (status.frozen, status.failed, status.needed) == (6, 0, 6)


def test_a_learner_who_denies_consent_lands_on_a_page_saying_so_and_is_not_linked(
    live_server, start_sandbox, demo_run, worker_queue
):
    dataset = generate(learners=2, course_keys=(COURSE_KEY,), revoked=0)
    # edX skips the consent page for a learner who holds a token of the client already.
    dataset["learners"]["learner00001"]["revoked"] = True
    start_sandbox(dataset)

    page = sign_in_with_edx(
        requests.Session(), platform_url(live_server), "learner00001", allow=False
    )

    assert page.status_code == 403
    assert "You did not allow gradefreeze to use your edX account" in page.text
    assert "Traceback" not in page.text
    assert not UserSocialAuth.objects.exists()


def begun(session, platform):
    """POST /login/edxorg/ and stop before the LMS: the authorize URL's query."""
    home = session.get(f"{platform}/", timeout=20)
    token = home.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = session.post(
        f"{platform}/login/edxorg/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{platform}/"},
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["Location"]).query).items()}


def test_a_callback_with_a_state_this_browser_was_not_given_is_refused_clearly(
    live_server, start_sandbox, demo_run, worker_queue
):
    start_sandbox(generate(learners=2, course_keys=(COURSE_KEY,), revoked=0))
    session, platform = requests.Session(), platform_url(live_server)
    asked = begun(session, platform)
    assert asked["code_challenge_method"] == "S256" and asked["state"]

    page = session.get(
        f"{platform}/complete/edxorg/", params={"code": "x", "state": "forged"}, timeout=20
    )

    assert page.status_code == 400
    assert "This sign-in could not be checked" in page.text
    assert not UserSocialAuth.objects.exists()


def test_an_lms_that_cannot_be_reached_at_the_token_exchange_is_said_so(
    live_server, start_sandbox, demo_run, worker_queue, settings
):
    start_sandbox(generate(learners=2, course_keys=(COURSE_KEY,), revoked=0))
    session, platform = requests.Session(), platform_url(live_server)
    asked = begun(session, platform)
    settings.EDXORG_BASE_URL = f"http://127.0.0.1:{free_port()}/"

    page = session.get(
        f"{platform}/complete/edxorg/",
        params={"code": "a-code", "state": asked["state"]},
        timeout=20,
    )

    assert page.status_code == 502
    assert "edX could not be reached" in page.text
    assert not UserSocialAuth.objects.exists()


def test_a_learner_who_first_links_after_their_run_was_frozen_is_frozen_at_sign_in(
    live_server, start_sandbox, demo_run, start_worker
):
    dataset = generate(learners=5, course_keys=(COURSE_KEY,), revoked=0)
    late = dataset["learners"]["learner00005"]
    seed_learners(
        {**dataset, "learners": {k: v for k, v in dataset["learners"].items() if v is not late}}
    )
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    api.start_freeze(demo_run, lambda run: api.freeze_course_run(run, send_chunks))
    assert wait_for_state(demo_run, api.FreezeState.COMPLETE).frozen == 4

    page = sign_in_with_edx(requests.Session(), platform_url(live_server), "learner00005")

    assert page.url.endswith("/grades/")
    learner = User.objects.get(username="learner00005")
    wait_until(
        lambda: FinalGrade.objects.filter(user=learner, course_run=demo_run).exists(),
        60,
        "the sign-in to freeze the late learner's grade",
    )
    final_grade = FinalGrade.objects.get(user=learner, course_run=demo_run)
    expected = expected_final_grade(late, COURSE_KEY)
    assert (round(final_grade.grade, 6), final_grade.passed, final_grade.paid) == expected
    audit = FinalGradeAudit.objects.get(user_id=learner.pk, course_run_id=demo_run.pk)
    assert audit.actor == "sign-in of learner00005"
    status = api.freeze_status(demo_run)
    assert (status.state, status.frozen, status.needed) == (api.FreezeState.COMPLETE, 5, 5)
