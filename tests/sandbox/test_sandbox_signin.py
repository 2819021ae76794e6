"""Sign in with edX: the sign-in page, /oauth2/authorize and the authorization-code grant."""

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from sandbox.dataset import DEFAULT_CLIENT

CALLBACK = "http://127.0.0.1:8765/complete/edxorg/"
CATALOG = {"client_id": "catalog", "client_secret": "catalog-secret"}
CATALOG_CALLBACK = "https://catalog.example.com/callback"


def sign_in(sandbox, username="alice", password="edx") -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{sandbox.url}login",
        data={"username": username, "password": password, "next": "/"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    return session


def authorize(session, sandbox, method="GET", path="oauth2/authorize", **params):
    params = {
        "response_type": "code",
        "client_id": "gradefreeze",
        "redirect_uri": CALLBACK,
        **params,
    }
    params = {k: v for k, v in params.items() if v is not None}
    if method == "GET":
        return session.get(f"{sandbox.url}{path}", params=params, allow_redirects=False, timeout=5)
    return session.post(f"{sandbox.url}{path}", data=params, allow_redirects=False, timeout=5)


def sent_back(answer) -> dict:
    """The query the learner's browser is sent back with."""
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["Location"]).query).items()}


def exchange(sandbox, code, client=DEFAULT_CLIENT, redirect_uri=CALLBACK, **extra):
    return requests.post(
        f"{sandbox.url}oauth2/access_token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "redirect_uri": redirect_uri,
            **extra,
        },
        timeout=5,
    )


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def test_authorize_without_a_session_sends_the_learner_to_sign_in(lms):
    """DOT's AuthorizationView is a LoginRequiredMixin: to the login URL, coming back after."""
    answer = authorize(requests.Session(), lms, state="xyz")

    assert answer.status_code == 302
    location = urlparse(answer.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"][0].startswith("/oauth2/authorize?")


def test_the_sign_in_page_is_plain_accessible_html(lms):
    page = requests.get(f"{lms.url}login?next=/oauth2/authorize", timeout=5)

    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html and "<h1>Sign in</h1>" in html
    assert '<form method="post" action="/login">' in html
    assert '<label for="username">' in html and '<label for="password">' in html
    assert "<script" not in html


def test_signing_in_goes_back_to_next_with_a_session_cookie(lms):
    answer = requests.post(
        f"{lms.url}login",
        data={"username": "alice", "password": "edx", "next": "/oauth2/authorize?client_id=x"},
        allow_redirects=False,
        timeout=5,
    )

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/oauth2/authorize?client_id=x"
    assert "sessionid" in answer.cookies


def test_a_learner_may_sign_in_with_their_email(lms):
    assert sign_in(lms, "bob@example.com").cookies["sessionid"]


def test_a_wrong_password_shows_the_form_again(lms):
    answer = requests.post(
        f"{lms.url}login", data={"username": "alice", "password": "nope"}, timeout=5
    )

    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert "sessionid" not in answer.cookies


def test_a_password_from_the_data_file_replaces_the_default(run_sandbox, dataset):
    dataset["learners"]["alice"]["password"] = "s3cret"
    sandbox = run_sandbox(dataset)

    assert sign_in(sandbox, "alice", "s3cret")
    refused = requests.post(
        f"{sandbox.url}login", data={"username": "alice", "password": "edx"}, timeout=5
    )
    assert refused.status_code == 400


def test_a_learner_who_approved_the_client_before_is_sent_back_with_a_code(lms):
    """dot_overrides/views.py EdxOAuth2AuthorizationView.get ("auto_even_if_expired"): a token
    of this client for these scopes, expired or not, skips the consent page."""
    answer = authorize(sign_in(lms), lms, state="xyz")

    back = sent_back(answer)
    assert answer.headers["Location"].startswith(CALLBACK)
    assert back["state"] == "xyz" and back["code"]


def test_a_learner_new_to_the_client_sees_a_consent_form(lms):
    """EdxOAuth2AuthorizationView.get renders the authorization prompt; its form posts."""
    answer = authorize(
        sign_in(lms), lms, client_id="catalog", redirect_uri=CATALOG_CALLBACK, state="s1"
    )

    assert answer.status_code == 200
    page = answer.text
    assert "<h1>Authorize Course Catalog</h1>" in page
    assert "Know your email address" in page
    assert '<form method="post" action="/oauth2/authorize">' in page
    assert 'name="state" value="s1"' in page
    assert 'name="allow"' in page


def test_allowing_sends_back_a_code_and_the_state(lms):
    session = sign_in(lms)

    answer = authorize(
        session,
        lms,
        "POST",
        client_id="catalog",
        redirect_uri=CATALOG_CALLBACK,
        state="s1",
        allow="Authorize",
    )

    back = sent_back(answer)
    assert answer.headers["Location"].startswith(CATALOG_CALLBACK)
    assert back["state"] == "s1" and back["code"]


def test_denying_sends_back_access_denied_and_the_state(lms):
    """DOT oauth2_backends.py create_authorization_response: not allowed, AccessDeniedError."""
    answer = authorize(
        sign_in(lms), lms, "POST", client_id="catalog", redirect_uri=CATALOG_CALLBACK, state="s1"
    )

    assert sent_back(answer) == {"error": "access_denied", "state": "s1"}


def test_the_code_buys_the_learner_a_token_pair(lms, get):
    """oauthlib AuthorizationCodeGrant.create_token_response, with DOT's validate_code."""
    code = sent_back(authorize(sign_in(lms), lms))["code"]

    answer = exchange(lms, code)

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert "username" not in body
    assert get(lms, "api/user/v1/me", body["access_token"]).json() == {"username": "alice"}


def test_a_code_is_spent_by_its_exchange(lms):
    code = sent_back(authorize(sign_in(lms), lms))["code"]
    exchange(lms, code)

    again = exchange(lms, code)

    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})


def test_a_code_expires_after_a_minute(run_sandbox, dataset):
    """django-oauth-toolkit's AUTHORIZATION_CODE_EXPIRE_SECONDS (60) and Grant.is_expired."""
    sandbox = run_sandbox(dataset, authorization_code_expire_seconds=0.2)
    code = sent_back(authorize(sign_in(sandbox), sandbox))["code"]
    time.sleep(0.4)

    assert exchange(sandbox, code).json() == {"error": "invalid_grant"}


def test_a_code_is_only_its_clients(lms):
    code = sent_back(authorize(sign_in(lms), lms))["code"]

    assert exchange(lms, code, client=CATALOG).json() == {"error": "invalid_grant"}


def test_the_exchange_must_name_the_same_redirect_uri(lms):
    """oauthlib confirm_redirect_uri: MismatchingRedirectURIError."""
    code = sent_back(authorize(sign_in(lms), lms))["code"]

    answer = exchange(lms, code, redirect_uri="http://127.0.0.1:8765/elsewhere/")

    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "Mismatching redirect URI.",
    }


def test_a_mismatching_redirect_uri_is_an_error_page_not_a_redirect(lms):
    """oauthlib _handle_redirects raises a FatalClientError; DOT's error_response renders it."""
    answer = authorize(sign_in(lms), lms, redirect_uri="https://evil.example.com/steal", state="s")

    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "Mismatching redirect URI." in answer.text


def test_an_unknown_client_is_an_error_page(lms):
    answer = authorize(sign_in(lms), lms, client_id="nobody")

    assert answer.status_code == 400
    assert "Invalid client_id parameter value." in answer.text


def test_a_loopback_redirect_uri_may_use_any_port(lms):
    """DOT models.py redirect_to_uri_allowed: a loopback URI registered without a port
    matches any port (RFC 8252)."""
    answer = authorize(sign_in(lms), lms, redirect_uri="http://127.0.0.1:5555/complete/edxorg/")

    assert "code" in sent_back(answer)


def test_a_redirect_uri_left_out_is_the_clients_first(lms):
    answer = authorize(sign_in(lms), lms, redirect_uri=None)

    assert answer.headers["Location"].startswith(DEFAULT_CLIENT["redirect_uris"].split()[0])


@pytest.mark.parametrize(
    "response_type, error",
    [("token", "unauthorized_client"), ("id_token", "unsupported_response_type")],
)
def test_only_the_code_response_type_is_served(lms, response_type, error):
    """oauthlib: "token" goes to the implicit grant, which no sandbox client has; a type
    without "code" is UnsupportedResponseTypeError; both go back to the redirect URI."""
    answer = authorize(sign_in(lms), lms, response_type=response_type, state="s")

    assert sent_back(answer) == {"error": error, "state": "s"}


def test_an_unknown_scope_is_invalid_scope(lms):
    answer = authorize(sign_in(lms), lms, scope="read grades:write")

    assert sent_back(answer)["error"] == "invalid_scope"


def test_pkce_s256_is_verified_when_the_code_was_issued_with_a_challenge(lms):
    """oauthlib AuthorizationCodeGrant.validate_token_request: a code issued with a challenge
    needs its verifier (MissingCodeVerifierError), which must match (InvalidGrantError)."""
    session = sign_in(lms)
    codes = [
        sent_back(
            authorize(session, lms, code_challenge=s256("v" * 43), code_challenge_method="S256")
        )["code"]
        for _ in range(3)
    ]

    missing = exchange(lms, codes[0])
    wrong = exchange(lms, codes[1], code_verifier="w" * 43)
    right = exchange(lms, codes[2], code_verifier="v" * 43)

    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Code verifier required.",
    }
    assert wrong.json() == {"error": "invalid_grant"}
    assert right.status_code == 200


def test_pkce_plain_is_the_default_method(lms):
    code = sent_back(authorize(sign_in(lms), lms, code_challenge="p" * 43))["code"]

    assert exchange(lms, code, code_verifier="p" * 43).status_code == 200


def test_an_unknown_challenge_method_goes_back_as_invalid_request(lms):
    answer = authorize(sign_in(lms), lms, code_challenge="p" * 43, code_challenge_method="MD5")

    assert sent_back(answer)["error"] == "invalid_request"


def test_the_consent_form_drops_the_pkce_challenge(lms):
    """EdxOAuth2AuthorizationView.get sets the form's initial data without code_challenge, so a
    code issued after the consent page is not bound to it (edX, Redwood to Teak)."""
    session = sign_in(lms)
    page = authorize(
        session,
        lms,
        client_id="catalog",
        redirect_uri=CATALOG_CALLBACK,
        code_challenge=s256("v" * 43),
        code_challenge_method="S256",
    )
    assert "code_challenge" not in page.text

    code = sent_back(
        authorize(
            session,
            lms,
            "POST",
            client_id="catalog",
            redirect_uri=CATALOG_CALLBACK,
            allow="Authorize",
        )
    )["code"]

    assert exchange(lms, code, client=CATALOG, redirect_uri=CATALOG_CALLBACK).status_code == 200


def test_approval_prompt_force_shows_the_consent_page_and_keeps_the_challenge(lms):
    """approval_prompt other than auto_even_if_expired: DOT's own AuthorizationView.get."""
    answer = authorize(sign_in(lms), lms, approval_prompt="force", code_challenge="p" * 43)

    assert answer.status_code == 200
    assert 'name="code_challenge" value="' + "p" * 43 in answer.text


def test_a_learner_who_revoked_access_sees_the_consent_page_again(lms):
    """Revoking deletes the learner's tokens, so nothing skips the prompt."""
    answer = authorize(sign_in(lms, "dave"), lms)

    assert answer.status_code == 200
    assert "Authorize gradefreeze" in answer.text


def test_a_skip_authorization_client_never_asks(run_sandbox, dataset):
    """DOT Application.skip_authorization."""
    dataset["clients"][3]["skip_authorization"] = True
    sandbox = run_sandbox(dataset)

    answer = authorize(
        sign_in(sandbox), sandbox, client_id="catalog", redirect_uri=CATALOG_CALLBACK
    )

    assert "code" in sent_back(answer)


def test_authorize_takes_a_trailing_slash_too(lms):
    """oauth_dispatch/urls.py: r'^authorize/?$'."""
    answer = authorize(sign_in(lms), lms, path="oauth2/authorize/")

    assert "code" in sent_back(answer)


def test_the_session_authenticates_api_requests_too(lms):
    """SessionAuthenticationAllowInactiveUser is among the user API's authentication classes."""
    session = sign_in(lms)

    assert session.get(f"{lms.url}api/user/v1/me", timeout=5).json() == {"username": "alice"}
