"""Who a request speaks for, as edX's API views' authentication classes decide it.

They are tried in edX's order: JwtAuthentication (`Authorization: JWT <token>`),
BearerAuthenticationAllowInactiveUser (`Authorization: Bearer <token>`), then the session
cookie set by the sign-in page. A class that recognises its credentials and finds them
wrong fails the request (401); none recognising any leaves it anonymous.
"""

from typing import TYPE_CHECKING

import jwt
from aiohttp import web

from sandbox.oauth import Principal

if TYPE_CHECKING:
    from sandbox.server import Sandbox

SESSION_COOKIE = "sessionid"


class AuthFailed(Exception):
    """AuthenticationFailed: the detail is a text, or edX's {"error_code", "developer_message"}."""

    def __init__(self, detail) -> None:
        super().__init__(detail)
        self.detail = detail


def _bearer_error(code: str, message: str) -> AuthFailed:
    """openedx/core/lib/api/authentication.py, BearerAuthentication's failures."""
    return AuthFailed({"error_code": code, "developer_message": message})


def authenticate(sandbox: "Sandbox", request: web.Request) -> Principal | None:
    parts = request.headers.get("Authorization", "").split()
    if parts and parts[0].lower() == "jwt":
        return _jwt_principal(sandbox, parts)
    if len(parts) == 1:
        raise _bearer_error("token_not_provided", "Invalid token header. No credentials provided.")
    if len(parts) > 2:
        raise _bearer_error(
            "token_malformed", "Invalid token header. Token string should not contain spaces."
        )
    if parts and parts[0].lower() == "bearer":
        grant = sandbox.authority.grant_of(parts[1])
        if grant is None:
            raise _bearer_error(
                "token_nonexistent", "The provided access token does not match any valid tokens."
            )
        if sandbox.authority.is_expired(grant):
            raise _bearer_error(
                "token_expired", "The provided access token has expired and is no longer valid."
            )
        return grant.principal
    username = sandbox.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    return Principal(username) if username is not None else None


def _jwt_principal(sandbox: "Sandbox", parts: list[str]) -> Principal:
    """drf-jwt's JSONWebTokenAuthentication, as edx-drf-extensions' JwtAuthentication uses
    it. A JWT cannot be revoked: it works until it expires, even after its learner revoked
    the application."""
    if len(parts) == 1:
        raise AuthFailed("Invalid Authorization header. No credentials provided.")
    if len(parts) > 2:
        raise AuthFailed(
            "Invalid Authorization header. Credentials string should not contain spaces."
        )
    try:
        payload = sandbox.authority.jwt_payload(parts[1])
    except jwt.ExpiredSignatureError:
        raise AuthFailed("Signature has expired.") from None
    except jwt.DecodeError:
        raise AuthFailed("Error decoding signature.") from None
    except jwt.InvalidTokenError:
        raise AuthFailed("Incorrect authentication credentials.") from None
    username = payload["preferred_username"]
    if sandbox.lms.learner(username) is not None:
        return Principal(username)
    client = sandbox.authority.clients.get(username)
    if client is not None:
        return Principal(username, client.staff, learner=False, client_id=client.client_id)
    raise AuthFailed("Invalid payload.")
