"""The OAuth2 token endpoint: grants per client type, rotation, expiry, JWTs, refusals."""

import time
import zlib

import jwt
import pytest
import requests

from sandbox.dataset import DEFAULT_CLIENT, DEFAULT_STAFF_CLIENT

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
GRADE = f"api/grades/v1/courses/{ANALOG}/"


def wait_for_a_fresh_window(ip="127.0.0.1", period=60):
    """django-ratelimit's windows end at a per-key offset into the minute: start well inside
    one, so a run of requests is counted in a single window."""
    end_in = (zlib.crc32(ip.encode()) % period - time.time()) % period
    if end_in < 5:
        time.sleep(end_in + 0.2)


def credentials(client):
    return {"client_id": client["client_id"], "client_secret": client["client_secret"]}


def refresh(oauth, lms, refresh_token, client=DEFAULT_CLIENT, **extra):
    return oauth(
        lms,
        grant_type="refresh_token",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        refresh_token=refresh_token,
        **extra,
    )


def client_credentials(oauth, lms, client=DEFAULT_STAFF_CLIENT, **extra):
    return oauth(
        lms,
        grant_type="client_credentials",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        **extra,
    )


def test_refresh_answers_the_token_fields_and_no_username(lms, oauth):
    """oauthlib BearerToken.create_token via DOT's TokenView; scopes are lms/envs/common.py's
    OAUTH2_DEFAULT_SCOPES, ACCESS_TOKEN_EXPIRE_SECONDS is DOT's default."""
    answer = refresh(oauth, lms, "rt-alice-0")

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 36000)
    assert body["scope"] == "read write email profile"
    assert body["access_token"] not in ("", "at-alice-0")
    assert body["refresh_token"] not in ("", "rt-alice-0")
    assert answer.headers["Cache-Control"] == "no-store"


def test_new_access_token_reads_the_learners_grade(lms, oauth, edx):
    token = refresh(oauth, lms, "rt-alice-0").json()["access_token"]

    grade = edx(lms, token).current_grades.get_student_current_grade("alice", ANALOG)

    assert grade.percent == 0.91


def test_a_used_refresh_token_is_invalid_grant(lms, oauth):
    """django-oauth-toolkit oauth2_validators.py, validate_refresh_token: a rotated token is
    revoked and REFRESH_TOKEN_GRACE_PERIOD_SECONDS is 0, so it is invalid at once."""
    refresh(oauth, lms, "rt-alice-0")

    again = refresh(oauth, lms, "rt-alice-0")

    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}


def test_the_new_refresh_token_rotates_again(lms, oauth):
    second = refresh(oauth, lms, "rt-alice-0").json()["refresh_token"]

    assert refresh(oauth, lms, second).status_code == 200


def test_the_replaced_access_token_stops_working(lms, oauth, get):
    """django-oauth-toolkit RefreshToken.revoke: rotation deletes the old access token;
    openedx/core/lib/api/authentication.py BearerAuthentication then says token_nonexistent."""
    refresh(oauth, lms, "rt-alice-0")

    answer = get(lms, f"{GRADE}?username=alice", "at-alice-0")

    assert answer.status_code == 401
    assert answer.json()["developer_message"]["error_code"] == "token_nonexistent"


def test_the_access_token_from_the_data_file_works_until_rotated(lms, edx):
    grade = edx(lms, "at-bob-0").current_grades.get_student_current_grade("bob", ANALOG)

    assert grade.username == "bob"


def test_a_revoked_learners_refresh_is_invalid_grant(lms, oauth):
    """Revoking access (or retirement) deletes the learner's DOT tokens, so
    validate_refresh_token finds none: oauthlib's InvalidGrantError, 400."""
    answer = refresh(oauth, lms, "rt-dave-0")

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant"}


def test_a_revoked_learners_access_token_is_token_nonexistent(lms, get):
    answer = get(lms, f"{GRADE}?username=dave", "at-dave-0")

    assert answer.status_code == 401
    assert answer.json()["developer_message"]["error_code"] == "token_nonexistent"


def test_a_refresh_token_refreshes_only_with_its_own_client(lms, oauth):
    """DOT validate_refresh_token: `rt.application == client`, else invalid_grant."""
    catalog = {"client_id": "catalog", "client_secret": "catalog-secret"}

    answer = refresh(oauth, lms, "rt-alice-0", client=catalog)

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant"}


def test_client_credentials_of_the_staff_client_read_anyones_grade(lms, oauth, edx):
    """dot_overrides/validators.py EdxOAuth2Validator.save_bearer_token: the token is the
    application user's, whose is_staff makes it staff."""
    answer = client_credentials(oauth, lms)

    assert answer.status_code == 200
    assert set(answer.json()) == {"access_token", "expires_in", "token_type", "scope"}
    staff = edx(lms, answer.json()["access_token"])
    assert staff.current_grades.get_student_current_grade("carol", ANALOG).percent == 0.12


def test_a_client_whose_user_is_not_staff_gets_no_staff_rights(lms, oauth, get):
    token = client_credentials(
        oauth, lms, {"client_id": "reporting", "client_secret": "reporting-secret"}
    )

    answer = get(lms, f"{GRADE}?username=carol", token.json()["access_token"])

    assert answer.status_code == 403


def test_client_credentials_for_an_authorization_code_client_are_unauthorized_client(lms, oauth):
    """DOT oauth2_validators.py validate_grant_type with GRANT_TYPE_MAPPING: one grant type per
    Application; oauthlib answers UnauthorizedClientError, 400."""
    answer = client_credentials(oauth, lms, DEFAULT_CLIENT)

    assert answer.status_code == 400
    assert answer.json() == {"error": "unauthorized_client"}


def test_an_authorization_code_for_a_client_credentials_client_is_unauthorized_client(lms, oauth):
    answer = oauth(
        lms,
        grant_type="authorization_code",
        code="whatever",
        client_id=DEFAULT_STAFF_CLIENT["client_id"],
        client_secret=DEFAULT_STAFF_CLIENT["client_secret"],
    )

    assert answer.status_code == 400
    assert answer.json() == {"error": "unauthorized_client"}


def test_an_old_client_without_grant_type_both_refreshes_and_reads_as_staff(
    run_sandbox, dataset, oauth, edx
):
    """DOT oauth2_validators.py GRANT_TYPE_MAPPING["refresh_token"] allows a client-credentials
    Application to refresh: read so, the one client of older data files keeps both uses."""
    old = {"client_id": "legacy", "client_secret": "legacy-secret", "staff": True}
    dataset["clients"] = [old]
    sandbox = run_sandbox(dataset)

    refreshed = refresh(oauth, sandbox, "rt-bob-0", client=old)
    service = client_credentials(oauth, sandbox, old).json()["access_token"]

    assert refreshed.status_code == 200
    assert edx(sandbox, service).current_grades.get_student_current_grade("carol", ANALOG)


def test_http_basic_client_authentication_is_accepted(lms):
    answer = requests.post(
        f"{lms.url}oauth2/access_token",
        data={"grant_type": "refresh_token", "refresh_token": "rt-bob-0"},
        auth=(DEFAULT_CLIENT["client_id"], DEFAULT_CLIENT["client_secret"]),
        timeout=5,
    )

    assert answer.status_code == 200


@pytest.mark.parametrize("client_id, secret", [("gradefreeze", "wrong"), ("nobody", "x")])
def test_an_unknown_client_is_invalid_client(lms, oauth, client_id, secret):
    answer = oauth(
        lms,
        grant_type="refresh_token",
        client_id=client_id,
        client_secret=secret,
        refresh_token="rt-alice-0",
    )

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_client"}
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_client"'


def test_a_refused_client_does_not_rotate_the_learners_tokens(lms, oauth):
    refresh(oauth, lms, "rt-alice-0", client={"client_id": "gradefreeze", "client_secret": "x"})

    assert refresh(oauth, lms, "rt-alice-0").status_code == 200


def test_an_unknown_grant_type_is_unsupported_grant_type(lms, oauth):
    answer = oauth(lms, grant_type="magic", client_id="gradefreeze")

    assert answer.status_code == 400
    assert answer.json() == {"error": "unsupported_grant_type"}


def test_the_password_grant_is_unauthorized_for_every_sandbox_client(lms, oauth):
    """oauthlib ResourceOwnerPasswordCredentialsGrant: the user is checked first
    (EdxOAuth2Validator.validate_user), then the client's grant type."""
    form = {"grant_type": "password", **credentials(DEFAULT_CLIENT), "username": "alice"}

    wrong = oauth(lms, **form, password="nope")
    right = oauth(lms, **form, password="edx")

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert (right.status_code, right.json()) == (400, {"error": "unauthorized_client"})


def test_a_missing_refresh_token_is_invalid_request(lms, oauth):
    answer = oauth(
        lms,
        grant_type="refresh_token",
        **credentials(DEFAULT_CLIENT),
    )

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "Missing refresh token parameter.",
    }


def test_an_expired_access_token_is_token_expired(run_sandbox, dataset, get):
    """BearerAuthentication.authenticate_credentials: `token.expires < now`."""
    sandbox = run_sandbox(dataset, access_token_expire_seconds=0.3)
    time.sleep(0.5)

    answer = get(sandbox, f"{GRADE}?username=bob", "at-bob-0")

    assert answer.status_code == 401
    assert answer.json()["developer_message"]["error_code"] == "token_expired"


def test_an_expired_access_token_still_refreshes(run_sandbox, dataset, oauth):
    sandbox = run_sandbox(dataset, access_token_expire_seconds=0.3)
    time.sleep(0.5)

    assert refresh(oauth, sandbox, "rt-bob-0").status_code == 200


def test_a_refresh_token_is_invalid_once_cleared_after_its_lifetime(run_sandbox, dataset, oauth):
    """lms/envs/common.py OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"] (90 days): the
    edx_clear_expired_tokens job deletes refresh tokens whose access token expired that long
    ago; the sandbox applies it when the token is used."""
    sandbox = run_sandbox(
        dataset, access_token_expire_seconds=0.2, refresh_token_expire_seconds=0.2
    )
    time.sleep(0.6)

    answer = refresh(oauth, sandbox, "rt-bob-0")

    assert (answer.status_code, answer.json()) == (400, {"error": "invalid_grant"})


def test_the_token_endpoint_allows_120_requests_a_minute_per_ip_then_answers_403(
    lms, oauth, control
):
    """oauth_dispatch/views.py AccessTokenView: ratelimit(key=real_ip, rate=RATELIMIT_RATE
    ("120/m", lms/envs/common.py), method=ALL, block=True): django-ratelimit raises
    Ratelimited, a PermissionDenied, so 403; every request counts, refused ones too."""
    wait_for_a_fresh_window()
    statuses = [client_credentials(oauth, lms).status_code for _ in range(125)]

    assert statuses == [200] * 120 + [403] * 5
    stats = control(lms, "GET", "stats").json()
    assert stats["throttled"]["token"] == statuses.count(403)


def test_the_token_limit_counts_refused_requests_too(run_sandbox, dataset, oauth):
    """django-ratelimit is_ratelimited(increment=True): the count grows on every request."""
    sandbox = run_sandbox(dataset, rates={"token": "3/h"})
    answers = [client_credentials(oauth, sandbox) for _ in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 403, 403]
    assert answers[-1].headers["Content-Type"].startswith("text/html")


def test_the_token_limit_is_an_option(run_sandbox, dataset, oauth):
    sandbox = run_sandbox(dataset, rates={"token": "off"})

    statuses = {client_credentials(oauth, sandbox).status_code for _ in range(130)}

    assert statuses == {200}


def test_token_type_jwt_answers_a_jwt_with_edx_claims(lms, oauth):
    """oauth_dispatch/jwt.py create_jwt_token_dict and _create_jwt: claims for the token's
    user and scopes, JWT_ACCESS_TOKEN_EXPIRE_SECONDS (3600); the refresh token is kept."""
    answer = refresh(oauth, lms, "rt-alice-0", token_type="jwt").json()

    assert (answer["token_type"], answer["expires_in"]) == ("JWT", 3600)
    assert answer["refresh_token"].startswith("rt-alice-")
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["scopes"] == ["read", "write", "email", "profile"]
    assert claims["grant_type"] == "authorization-code"
    assert claims["administrator"] is False
    assert {"aud", "exp", "iat", "iss", "sub", "version", "filters", "is_restricted"} <= set(claims)
    assert claims["iss"] == f"{lms.url}oauth2"


def test_the_x_token_type_header_asks_for_a_jwt_too(lms):
    """oauth_dispatch/views.py _get_token_type: the header when the form has no token_type."""
    answer = requests.post(
        f"{lms.url}oauth2/access_token",
        data={
            "grant_type": "client_credentials",
            **credentials(DEFAULT_STAFF_CLIENT),
        },
        headers={"X-Token-Type": "JWT"},
        timeout=5,
    )

    assert answer.json()["token_type"] == "JWT"


def test_a_jwt_is_sent_as_authorization_jwt(lms, oauth, get):
    token = refresh(oauth, lms, "rt-alice-0", token_type="jwt").json()["access_token"]

    as_jwt = get(lms, f"{GRADE}?username=alice", headers={"Authorization": f"JWT {token}"})
    as_bearer = get(lms, f"{GRADE}?username=alice", token)

    assert as_jwt.status_code == 200
    assert as_bearer.status_code == 401


def test_a_staff_clients_jwt_is_staff(lms, oauth, get):
    token = client_credentials(oauth, lms, token_type="jwt").json()["access_token"]

    answer = get(lms, f"{GRADE}?username=bob", headers={"Authorization": f"JWT {token}"})

    assert answer.status_code == 200
    assert jwt.decode(token, options={"verify_signature": False})["administrator"] is True


def test_a_jwt_outlives_the_learners_revocation(lms, oauth, get, control):
    """jwt.py: a JWT has no underlying token to delete; it works until it expires."""
    token = refresh(oauth, lms, "rt-alice-0", token_type="jwt").json()["access_token"]
    learner = control(lms, "GET", "learners/alice").json()
    control(lms, "PUT", "learners/alice", json={**learner, "revoked": True})

    answer = get(lms, f"{GRADE}?username=alice", headers={"Authorization": f"JWT {token}"})

    assert answer.status_code == 200


@pytest.mark.parametrize(
    "header, detail",
    [
        ("JWT not.a.jwt", "Error decoding signature."),
        ("JWT", "Invalid Authorization header. No credentials provided."),
    ],
)
def test_a_bad_jwt_is_401(lms, get, header, detail):
    """drf-jwt JSONWebTokenAuthentication, edx-drf-extensions' JwtAuthentication's base."""
    answer = get(lms, "api/enrollment/v1/enrollment", headers={"Authorization": header})

    assert answer.status_code == 401
    assert answer.json() == {"detail": detail}


def test_an_expired_jwt_is_401(run_sandbox, dataset, oauth, get):
    sandbox = run_sandbox(dataset, jwt_expire_seconds=1)
    token = refresh(oauth, sandbox, "rt-alice-0", token_type="jwt").json()["access_token"]
    time.sleep(2.1)

    answer = get(sandbox, "api/enrollment/v1/enrollment", headers={"Authorization": f"JWT {token}"})

    assert answer.json() == {"detail": "Signature has expired."}


@pytest.mark.parametrize(
    "header, body",
    [
        (None, {"detail": "Authentication credentials were not provided."}),
        ("Token at-alice-0", {"detail": "Authentication credentials were not provided."}),
        (
            "Bearer nonsense",
            {
                "error_code": "token_nonexistent",
                "developer_message": "The provided access token does not match any valid tokens.",
            },
        ),
        (
            "Bearer ",
            {
                "error_code": "token_not_provided",
                "developer_message": "Invalid token header. No credentials provided.",
            },
        ),
    ],
)
def test_a_plain_drf_view_without_a_valid_bearer_token_is_401(lms, get, header, body):
    """openedx/core/lib/api/authentication.py BearerAuthentication's failures, rendered by
    DRF's exception handler (the detail dict is the body) with WWW-Authenticate."""
    headers = {"Authorization": header} if header else {}

    answer = get(lms, "api/enrollment/v1/enrollment", headers=headers)

    assert answer.status_code == 401
    assert answer.json() == body
    assert answer.headers["WWW-Authenticate"] == 'JWT realm="api"'


def test_the_token_endpoint_takes_a_trailing_slash_too(lms):
    """oauth_dispatch/urls.py: r'^access_token/?$'."""
    answer = requests.post(
        f"{lms.url}oauth2/access_token/",
        data={
            "grant_type": "client_credentials",
            **credentials(DEFAULT_STAFF_CLIENT),
        },
        timeout=5,
    )

    assert answer.status_code == 200
