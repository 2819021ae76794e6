"""No token, client secret or password in the logs or in what Sentry would receive."""

import json
import logging
import os
import subprocess
import sys

import pytest
import sentry_sdk
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone
from sentry_sdk.transport import Transport
from social_django.models import UserSocialAuth

from dashboard.api import EdxRefreshError, refresh_cached_data
from demo.api import seed_course_run, seed_learners
from gradefreeze.redaction import redact, sentry_options
from sandbox.dataset import generate
from tests.conftest import ROOT

KEY = "course-v1:MITx+Secrets+1T2026"
log = logging.getLogger("gradefreeze.test")


class CapturingTransport(Transport):
    """Keeps the events sentry-sdk would send, instead of sending them."""

    def __init__(self):
        super().__init__()
        self.events = []

    def capture_envelope(self, envelope):
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def sentry_events():
    """Start sentry-sdk with the given options; returns the events it would have sent."""

    def start(**options):
        transport = CapturingTransport()
        sentry_sdk.init(dsn="https://public@sentry.invalid/1", transport=transport, **options)
        return transport.events

    yield start
    sentry_sdk.init()


@pytest.fixture
def revoked_learner(db, start_sandbox):
    """A learner whose refresh token the LMS refuses (400 invalid_grant), served by the sandbox."""
    seed_course_run(KEY, timezone.now())
    dataset = generate(learners=1, course_keys=(KEY,), revoked=1)
    seed_learners(dataset)
    start_sandbox(dataset)
    [learner] = dataset["learners"].values()
    return learner


def secrets_of(learner):
    return [
        learner["access_token"],
        learner["refresh_token"],
        django_settings.SOCIAL_AUTH_EDXORG_SECRET,
    ]


def failed_refresh():
    """Refresh the only learner's data; returns the error their refused token raises."""
    with pytest.raises(EdxRefreshError) as error:
        refresh_cached_data(UserSocialAuth.objects.get().user)
    return error.value


def test_a_failed_refresh_sends_sentry_an_event_without_the_tokens_or_client_secret(
    revoked_learner, sentry_events
):
    events = sentry_events(**sentry_options())
    sentry_sdk.capture_exception(failed_refresh())
    [event] = events
    sent = json.dumps(event)
    assert '"vars"' in sent  # local variables were sent, and scrubbed
    assert not [secret for secret in secrets_of(revoked_learner) if secret in sent]


def test_with_sentry_sdks_defaults_alone_sentry_would_receive_the_refresh_token(
    revoked_learner, sentry_events
):
    events = sentry_events()
    sentry_sdk.capture_exception(failed_refresh())
    [event] = events
    assert revoked_learner["refresh_token"] in json.dumps(event)


def test_a_failed_refresh_logs_no_token_or_client_secret(revoked_learner, caplog):
    caplog.set_level(logging.DEBUG)
    error = failed_refresh()
    log.error("refresh failed: %r", error.__cause__, exc_info=error)
    assert "refresh failed" in caplog.text
    assert not [secret for secret in secrets_of(revoked_learner) if secret in caplog.text]


def test_a_log_line_carrying_a_request_body_is_redacted(caplog):
    log.warning("POST %s", "grant_type=refresh_token&refresh_token=r3fr3sh&client_secret=s3cr3t")
    assert caplog.messages == [
        "POST grant_type=refresh_token&refresh_token=[redacted]&client_secret=[redacted]"
    ]


def test_an_exception_message_carrying_a_token_is_redacted_in_the_logged_traceback(caplog):
    try:
        raise ValueError("unexpected answer {'access_token': 'acc3ss', 'expires_in': 36000}")
    except ValueError:
        log.exception("refresh failed")
    assert "acc3ss" not in caplog.text
    assert "'expires_in': 36000" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        ('{"refresh_token": "r3fr3sh"}', '{"refresh_token": "[redacted]"}'),
        ("redis://:p4ssw0rd@redis:6379/0", "redis://:[redacted]@redis:6379/0"),
        ("postgres://grades:p4ssw0rd@db/grades", "postgres://grades:[redacted]@db/grades"),
        ("token_refresh: reauthentication_required", "token_refresh: reauthentication_required"),
    ],
)
def test_secrets_are_redacted_by_their_shape(text, expected):
    assert redact(text) == expected


def test_the_client_secret_is_redacted_wherever_it_appears(settings):
    settings.SOCIAL_AUTH_EDXORG_SECRET = "an-oauth-client-secret"
    assert redact("sent an-oauth-client-secret to the LMS") == "sent [redacted] to the LMS"


def test_settings_start_sentry_with_the_projects_scrubbing():
    probe = (
        "import django, sentry_sdk; django.setup(); "
        "from gradefreeze.redaction import scrub_sentry_event; "
        "options = sentry_sdk.get_client().options; "
        "print(options['before_send'] is scrub_sentry_event, options['event_scrubber'].recursive)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gradefreeze.settings",
            "SENTRY_DSN": "https://public@sentry.invalid/1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "True"], result.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_tasks")
def test_freezing_and_checking_a_run_with_failures_prints_no_token(start_sandbox, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    course_run = seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))
    dataset = generate(learners=6, course_keys=(KEY,), revoked=2)
    dataset["learners"]["learner00003"]["faults"] = {"grades": {"status": 500}}
    seed_learners(dataset)
    start_sandbox(dataset)
    call_command("freeze_final_grades", KEY)
    with pytest.raises(SystemExit):  # its exit status tells the state
        call_command("check_final_grade_freeze_status", KEY)
    printed = capsys.readouterr()
    output = printed.out + printed.err + caplog.text
    assert f"Course run {course_run.edx_course_key}: complete" in output
    assert "token_refresh: reauthentication_required (HTTP 400): 2" in output
    tokens = [
        token
        for learner in dataset["learners"].values()
        for token in (learner["access_token"], learner["refresh_token"])
    ]
    tokens += [link.extra_data["access_token"] for link in UserSocialAuth.objects.all()]
    assert not [secret for secret in tokens if secret in output]
