"""The user API: who a token is (/me) and a learner's account."""

from sandbox.dataset import DEFAULT_STAFF_CLIENT


def test_me_answers_the_tokens_username_only(lms, get):
    """user_api/urls.py 'v1/me' (own_username_api): AccountViewSet.get."""
    answer = get(lms, "api/user/v1/me", "at-bob-0")

    assert (answer.status_code, answer.json()) == (200, {"username": "bob"})


def test_me_of_a_client_credentials_token_is_the_clients_user(lms, get, staff_token):
    assert get(lms, "api/user/v1/me", staff_token).json() == {
        "username": DEFAULT_STAFF_CLIENT["client_id"]
    }


def test_me_without_credentials_is_401(lms, get):
    answer = get(lms, "api/user/v1/me")

    assert answer.status_code == 401
    assert answer.json() == {"detail": "Authentication credentials were not provided."}


def test_the_owner_reads_their_full_account(lms, get):
    """AccountViewSet.retrieve via accounts/api.py get_account_settings: the owner (or staff)
    sees ACCOUNT_VISIBILITY_CONFIGURATION["admin_fields"]."""
    account = get(lms, "api/user/v1/accounts/bob", "at-bob-0").json()

    assert (account["username"], account["email"], account["is_active"]) == (
        "bob",
        "bob@example.com",
        True,
    )
    assert {"id", "name", "date_joined", "profile_image", "account_privacy"} <= set(account)


def test_staff_read_the_full_account_too(lms, get, staff_token):
    assert get(lms, "api/user/v1/accounts/bob", staff_token).json()["email"] == "bob@example.com"


def test_another_learner_sees_only_the_shared_fields(lms, get):
    """UserReadOnlySerializer with the default visibility "all_users": bulk_shareable_fields."""
    account = get(lms, "api/user/v1/accounts/bob", "at-alice-0").json()

    assert "email" not in account and "name" not in account
    assert account["username"] == "bob"
    assert {"account_privacy", "profile_image", "date_joined", "country"} <= set(account)


def test_a_name_and_join_date_from_the_data_file_are_served(run_sandbox, dataset, get):
    dataset["learners"]["bob"].update(name="Bob Ross", date_joined="2013-05-01T00:00:00Z")
    sandbox = run_sandbox(dataset)

    account = get(sandbox, "api/user/v1/accounts/bob", "at-bob-0").json()

    assert (account["name"], account["date_joined"]) == ("Bob Ross", "2013-05-01T00:00:00Z")


def test_an_unknown_account_is_404_with_no_body(lms, get, staff_token):
    answer = get(lms, "api/user/v1/accounts/zoe", staff_token)

    assert (answer.status_code, answer.content) == (404, b"")


def test_the_account_url_has_no_trailing_slash(lms, get):
    """user_api/urls.py: fr'^v1/accounts/{USERNAME_PATTERN}$'."""
    assert get(lms, "api/user/v1/accounts/bob/", "at-bob-0").status_code == 404
