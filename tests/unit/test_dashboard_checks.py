"""`manage.py check --deploy` passes with production settings, and refuses missing token keys."""

import os
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet

from dashboard.checks import (
    check_token_encryption_keys,
    check_token_encryption_keys_are_set,
    check_two_oauth_clients,
)
from tests.conftest import ROOT

SETTINGS_FROM_ENV = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "TOKEN_ENCRYPTION_KEYS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SENTRY_DSN",
)


def check_deploy(tmp_path, **production):
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_FROM_ENV}
    env.update(
        DATABASE_URL="postgres://gradefreeze@db.internal:5432/gradefreeze",
        GRADEFREEZE_VAR_DIR=str(tmp_path),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="grades.example.org",
        **production,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = check_deploy(tmp_path, TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "System check identified no issues (0 silenced).",
    )


def test_check_deploy_passes_behind_a_proxy_that_redirects_to_https(tmp_path):
    result = check_deploy(
        tmp_path,
        TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO",
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_fails_without_token_encryption_keys(tmp_path):
    result = check_deploy(tmp_path)
    assert result.returncode == 1
    assert "(dashboard.E001) TOKEN_ENCRYPTION_KEYS is not set" in result.stderr


def test_the_development_key_is_refused_for_production(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [settings.DEVELOPMENT_TOKEN_ENCRYPTION_KEY]
    assert [error.id for error in check_token_encryption_keys_are_set(None)] == ["dashboard.E001"]


def test_a_malformed_key_is_an_error_that_does_not_print_it(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-fernet-key"]
    [error] = check_token_encryption_keys(None)
    assert error.id == "dashboard.E002"
    assert "Key 2 of TOKEN_ENCRYPTION_KEYS" in error.msg
    assert "not-a-fernet-key" not in error.msg + error.hint


def test_well_formed_keys_pass(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode() for _ in range(2)]
    assert check_token_encryption_keys(None) == []


def test_check_deploy_refuses_one_client_for_learners_and_staff(tmp_path):
    result = check_deploy(
        tmp_path,
        TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        EDXORG_CLIENT_ID="gradefreeze",
        EDXORG_STAFF_CLIENT_ID="gradefreeze",
        EDXORG_STAFF_CLIENT_SECRET="secret",
    )
    assert result.returncode == 1
    assert "(dashboard.E003) EDXORG_STAFF_CLIENT_ID is the same client" in result.stderr


def test_two_clients_or_no_staff_client_pass(settings):
    settings.SOCIAL_AUTH_EDXORG_KEY = "gradefreeze"
    settings.EDXORG_STAFF_CLIENT_ID = "gradefreeze-staff"
    assert check_two_oauth_clients(None) == []
    settings.EDXORG_STAFF_CLIENT_ID = ""
    assert check_two_oauth_clients(None) == []
