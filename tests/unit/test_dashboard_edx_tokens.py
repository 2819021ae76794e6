"""Learners' edX tokens: ciphertext in the database column, plaintext to every reader."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from dashboard.edx_tokens import TokenDecryptionError
from demo.api import seed_course_run, seed_learners
from sandbox.dataset import generate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEY = "course-v1:MITx+Tokens+1T2026"
TOKENS = {"access_token": "access-plain-0123456789", "refresh_token": "refresh-plain-0123456789"}


def stored_extra_data(link):
    """extra_data as the database column holds it, read past the model."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extra_data FROM social_auth_usersocialauth WHERE id = %s", [link.id])
        [raw] = cursor.fetchone()
    return json.loads(raw) if isinstance(raw, str) else raw


def store_plaintext(link, extra_data):
    """Write extra_data as a row written before encryption existed holds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE social_auth_usersocialauth SET extra_data = %s WHERE id = %s",
            [json.dumps(extra_data), link.id],
        )


def new_link(**extra):
    return UserSocialAuth.objects.create(
        user=UserFactory(), provider="edxorg", uid="learner", extra_data={**TOKENS, **extra}
    )


@pytest.fixture
def new_key(settings):
    """A second key put in front of the current one, as a rotation starts."""
    key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key, *settings.TOKEN_ENCRYPTION_KEYS]
    return key


def test_the_column_holds_ciphertext_for_both_tokens():
    stored = stored_extra_data(new_link())
    for name, plaintext in TOKENS.items():
        assert stored[name].startswith("fernet:")
        assert plaintext not in stored[name]


def test_other_extra_data_is_stored_as_it_is():
    stored = stored_extra_data(new_link(expires_in=36000, token_type="Bearer"))
    assert (stored["expires_in"], stored["token_type"]) == (36000, "Bearer")


def test_a_loaded_link_reads_its_tokens_as_plaintext():
    new_link()
    assert UserSocialAuth.objects.get().extra_data == TOKENS


def test_the_saved_instance_keeps_plaintext_tokens():
    link = new_link()
    link.save()
    assert link.extra_data == TOKENS


def test_seeded_learners_links_hold_ciphertext():
    seed_course_run(KEY, timezone.now())
    dataset = generate(learners=2, course_keys=(KEY,), revoked=0)
    seed_learners(dataset)
    for link in UserSocialAuth.objects.all():
        learner = dataset["learners"][link.uid]
        assert link.extra_data["access_token"] == learner["access_token"]
        assert learner["access_token"] not in json.dumps(stored_extra_data(link))
        assert learner["refresh_token"] not in json.dumps(stored_extra_data(link))


def test_a_plaintext_row_from_before_encryption_is_read_as_it_is():
    link = new_link()
    store_plaintext(link, TOKENS)
    assert UserSocialAuth.objects.get().extra_data == TOKENS


def test_a_plaintext_row_is_encrypted_on_its_next_save():
    link = new_link()
    store_plaintext(link, TOKENS)
    UserSocialAuth.objects.get().save()
    assert stored_extra_data(link)["refresh_token"].startswith("fernet:")


def test_a_refresh_stores_the_new_tokens_encrypted(start_sandbox):
    seed_course_run(KEY, timezone.now())
    dataset = generate(learners=1, course_keys=(KEY,), revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)
    link = UserSocialAuth.objects.get()
    link.refresh_token(load_strategy())
    fresh = UserSocialAuth.objects.get()
    assert fresh.extra_data["access_token"] != dataset["learners"][link.uid]["access_token"]
    assert fresh.extra_data["access_token"] == link.extra_data["access_token"]
    assert link.extra_data["access_token"] not in json.dumps(stored_extra_data(link))
    assert link.extra_data["refresh_token"] not in json.dumps(stored_extra_data(link))


def test_every_key_of_the_list_decrypts(new_key):
    link = new_link()
    assert UserSocialAuth.objects.get(id=link.id).extra_data == TOKENS


def test_reencrypting_lets_the_old_key_be_dropped(settings):
    link = new_link()
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, *settings.TOKEN_ENCRYPTION_KEYS]
    call_command("reencrypt_edx_tokens", stdout=io.StringIO())
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    assert UserSocialAuth.objects.get(id=link.id).extra_data == TOKENS


def test_reencrypting_encrypts_plaintext_rows():
    link = new_link()
    store_plaintext(link, TOKENS)
    call_command("reencrypt_edx_tokens", stdout=io.StringIO())
    assert stored_extra_data(link)["access_token"].startswith("fernet:")


def test_reencrypting_says_how_many_links_without_printing_a_token():
    new_link()
    output = io.StringIO()
    call_command("reencrypt_edx_tokens", stdout=output)
    output = output.getvalue()
    assert "Re-encrypted the tokens of 1 edX links" in output
    assert not any(token in output for token in TOKENS.values())


def test_a_token_under_a_dropped_key_is_an_error_that_names_the_setting_not_the_token(
    settings,
):
    link = new_link()
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(TokenDecryptionError, match="TOKEN_ENCRYPTION_KEYS") as error:
        UserSocialAuth.objects.get(id=link.id)
    assert stored_extra_data(link)["access_token"] not in str(error.value)


def test_a_link_loaded_without_extra_data_costs_no_query(django_assert_num_queries):
    new_link()
    with django_assert_num_queries(1):
        [link] = UserSocialAuth.objects.only("uid")
        assert link.uid == "learner"
