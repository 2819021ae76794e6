"""The runbook's Secrets section, run as an operator would: deploy check, new key, rotation."""

import secrets
import shlex
import subprocess
import sys

import pytest
from social_django.models import UserSocialAuth

from tests.conftest import ROOT
from tests.integration.test_runbook import code_blocks

pytestmark = pytest.mark.integration


def run(line, env):
    """Run one shell line of the runbook with this virtualenv's python."""
    program, *args = shlex.split(line)
    assert program == "python", line
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def secrets_section():
    check, generate_key, reencrypt = (block.strip() for block in code_blocks("Secrets"))
    return check, generate_key, reencrypt


def test_a_generated_key_passes_the_deploy_check(secrets_section, operator_env):
    check, generate_key, _ = secrets_section
    key = run(generate_key, operator_env()).stdout.strip()
    production = {
        **operator_env(),
        "TOKEN_ENCRYPTION_KEYS": key,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "grades.example.org",
    }
    result = run(check, production)
    assert result.returncode == 0, result.stderr


def test_rotating_to_a_new_key_keeps_every_token_readable_with_the_new_key_alone(
    secrets_section, operator_env, seeded, settings
):
    _, generate_key, reencrypt = secrets_section
    dataset = seeded(learners=3)
    new_key = run(generate_key, operator_env()).stdout.strip()
    both = ",".join([new_key, *settings.TOKEN_ENCRYPTION_KEYS])
    result = run(reencrypt, {**operator_env(), "TOKEN_ENCRYPTION_KEYS": both})
    assert result.returncode == 0, result.stderr
    assert "Re-encrypted the tokens of 3 edX links" in result.stdout
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    tokens = {link.uid: link.extra_data["refresh_token"] for link in UserSocialAuth.objects.all()}
    assert tokens == {
        name: learner["refresh_token"] for name, learner in dataset["learners"].items()
    }
