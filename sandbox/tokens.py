"""POST /oauth2/access_token: edX's AccessTokenView in front of django-oauth-toolkit.

openedx/core/djangoapps/oauth_dispatch/views.py, AccessTokenView: every request counts
against a per-IP limit (django-ratelimit, RATELIMIT_RATE, block=True: over it, 403), then
DOT's TokenView runs oauthlib's grant (checks in oauthlib's order), then a JWT replaces
the access token if `token_type` (or the X-Token-Type header) is "jwt".
"""

import base64
import hashlib
from typing import TYPE_CHECKING
from urllib.parse import unquote

from aiohttp import BasicAuth, web

from sandbox.answers import FORBIDDEN_PAGE, Refused, Reply
from sandbox.oauth import DEFAULT_SCOPES, Client

if TYPE_CHECKING:
    from sandbox.server import Sandbox

# oauthlib's token responses are never cached.
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_WOULD_BE_TOKEN = {
    "access_token": "at-pending",
    "expires_in": 36000,
    "token_type": "Bearer",
    "scope": " ".join(DEFAULT_SCOPES),
    "refresh_token": "rt-pending",
}


def oauth_error(status: int, error: str, description: str | None = None) -> Refused:
    """oauthlib's OAuth2Error as JSON; a 401 also says so in WWW-Authenticate."""
    body = {"error": error}
    headers = dict(TOKEN_HEADERS)
    if description:
        body["error_description"] = description
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return Refused(Reply(status, body, headers=headers))


async def access_token(sandbox: "Sandbox", request: web.Request) -> Reply:
    if sandbox.throttles.token_limited(request.remote or ""):
        raise Refused(Reply(403, html=FORBIDDEN_PAGE), throttled=True)
    form = await request.post()
    grant = _GRANTS.get(form.get("grant_type"))
    if grant is None:
        raise oauth_error(400, "unsupported_grant_type")
    reply = await grant(sandbox, request, form)
    if reply.fault is None and _token_type(request, form) == "jwt":
        reply = Reply(200, _as_jwt(sandbox, request, reply.payload), headers=TOKEN_HEADERS)
    return reply


async def _refresh(sandbox: "Sandbox", request: web.Request, form) -> Reply:
    """oauthlib's RefreshTokenGrant with DOT's validator: the token must be live and the
    client's own; a revoked learner's tokens are deleted, so theirs is invalid_grant too."""
    refresh_token = form.get("refresh_token")
    if not refresh_token:
        raise oauth_error(400, "invalid_request", "Missing refresh token parameter.")
    client = _authenticated_client(sandbox, request, form)
    _check_grant_type(client, "refresh_token")
    grant = sandbox.authority.refreshable(refresh_token, client)
    if grant is None:
        raise oauth_error(400, "invalid_grant")
    learners = (grant.principal.username,) if grant.principal.learner else ()
    reply = await sandbox.answer("token", learners, _WOULD_BE_TOKEN)
    if reply.fault:
        return reply
    if sandbox.authority.refreshable(refresh_token, client) is None:  # spent meanwhile
        raise oauth_error(400, "invalid_grant")
    return Reply(200, sandbox.authority.rotate(grant), headers=TOKEN_HEADERS)


async def _client_credentials(sandbox: "Sandbox", request: web.Request, form) -> Reply:
    client = _authenticated_client(sandbox, request, form)
    _check_grant_type(client, "client_credentials")
    reply = await sandbox.answer("token", (), _WOULD_BE_TOKEN)
    if reply.fault:
        return reply
    return Reply(200, sandbox.authority.issue_service_token(client), headers=TOKEN_HEADERS)


async def _authorization_code(sandbox: "Sandbox", request: web.Request, form) -> Reply:
    """oauthlib's AuthorizationCodeGrant: a code of this client, unexpired and unused,
    its PKCE verifier if it was issued with a challenge, and the same redirect URI."""
    code = form.get("code")
    if code is None:
        raise oauth_error(400, "invalid_request", "Missing code parameter.")
    client = _authenticated_client(sandbox, request, form)
    _check_grant_type(client, "authorization_code")
    found = sandbox.authority.valid_code(code, client)
    if found is None:
        raise oauth_error(400, "invalid_grant")
    if found.challenge is not None:
        verifier = form.get("code_verifier")
        if verifier is None:
            raise oauth_error(400, "invalid_request", "Code verifier required.")
        if not _verifies(found.challenge, found.challenge_method, verifier):
            raise oauth_error(400, "invalid_grant")
    redirect_uri = form.get("redirect_uri") or (client.redirect_uris or ("",))[0]
    if redirect_uri != found.redirect_uri:
        raise oauth_error(400, "invalid_request", "Mismatching redirect URI.")
    reply = await sandbox.answer("token", (found.username,), _WOULD_BE_TOKEN)
    if reply.fault:
        return reply
    if sandbox.authority.valid_code(code, client) is None:  # spent meanwhile
        raise oauth_error(400, "invalid_grant")
    sandbox.authority.spend_code(found)
    return Reply(200, sandbox.authority.issue_for_code(found), headers=TOKEN_HEADERS)


async def _password(sandbox: "Sandbox", request: web.Request, form) -> Reply:
    """oauthlib's password grant: the sandbox's clients never have it, so a request with
    good credentials still ends as unauthorized_client."""
    client = _authenticated_client(sandbox, request, form)
    for param in ("username", "password"):
        if not form.get(param):
            raise oauth_error(400, "invalid_request", f"Request is missing {param} parameter.")
    if sandbox.lms.signed_in(form["username"], form["password"]) is None:
        raise oauth_error(400, "invalid_grant", "Invalid credentials given.")
    _check_grant_type(client, "password")
    raise oauth_error(400, "unauthorized_client")  # no sandbox client has this grant type


_GRANTS = {
    "refresh_token": _refresh,
    "client_credentials": _client_credentials,
    "authorization_code": _authorization_code,
    "password": _password,
}


def _authenticated_client(sandbox: "Sandbox", request: web.Request, form) -> Client:
    """DOT's authenticate_client: HTTP Basic (URL-encoded id and secret) or form fields."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            basic = BasicAuth.decode(header)
        except ValueError:
            raise oauth_error(401, "invalid_client") from None
        client_id, secret = unquote(basic.login), unquote(basic.password)
    client = sandbox.authority.authenticated_client(client_id, secret)
    if client is None:
        raise oauth_error(401, "invalid_client")
    return client


def _check_grant_type(client: Client, grant: str) -> None:
    """DOT's validate_grant_type: Application.allows_grant_type(GRANT_TYPE_MAPPING[grant])."""
    if not client.allows(grant):
        raise oauth_error(400, "unauthorized_client")


def _verifies(challenge: str, method: str | None, verifier: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == challenge
    return verifier == challenge


def _token_type(request: web.Request, form) -> str:
    """views.py, _get_token_type: the form's token_type, else the X-Token-Type header."""
    return str(form.get("token_type", request.headers.get("X-Token-Type", ""))).lower()


def _as_jwt(sandbox: "Sandbox", request: web.Request, answer: dict) -> dict:
    grant = sandbox.authority.grant_of(answer["access_token"])
    learner = sandbox.lms.learner(grant.principal.username) if grant.principal.learner else None
    email = learner["email"] if learner else ""
    name = learner.get("name", "") if learner else None
    issuer = f"{request.url.origin()}/oauth2"
    return sandbox.authority.jwt_answer(answer, issuer, email, name)
