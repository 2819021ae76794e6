"""Sign in with edX: the LMS's sign-in page and its OAuth2 authorization endpoint.

/oauth2/authorize is edX's AuthorizationView (oauth_dispatch/urls.py, trailing slash
optional), which dispatches to EdxOAuth2AuthorizationView (dot_overrides/views.py), a
django-oauth-toolkit AuthorizationView: LoginRequiredMixin sends a visitor without a
session to the sign-in page first; then oauthlib's AuthorizationCodeGrant checks the
request. A wrong client or redirect URI gets an error page (never a redirect to an
unchecked URI); other errors, a denial and the code go back to the redirect URI, with
the `state` given.

edX skips the consent page when the learner already holds a token of the client for
those scopes, expired or not (REQUEST_APPROVAL_PROMPT "auto_even_if_expired"), or when the
client has skip_authorization. Its consent form does not carry the PKCE challenge, so a
code issued after the consent page is not bound to it; an approval skipped keeps it.
`approval_prompt=auto` or `force` in the request takes DOT's own path, which keeps it.
"""

import html
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from aiohttp import web

from sandbox.auth import SESSION_COOKIE
from sandbox.oauth import DEFAULT_SCOPES, SCOPE_DESCRIPTIONS, Client

if TYPE_CHECKING:
    from sandbox.server import Sandbox

_CHALLENGE_METHODS = ("plain", "S256")
_SIGNED_IN_HOME = "/api/user/v1/me"


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    challenge: str | None
    challenge_method: str | None


class _ErrorPage(Exception):
    """oauthlib's FatalClientError: shown to the learner, not redirected."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class _ErrorRedirect(Exception):
    """Any other OAuth2Error: sent back to the (checked) redirect URI."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


# --- sign-in ---------------------------------------------------------------------------


async def login_page(sandbox: "Sandbox", request: web.Request) -> web.Response:
    return _page("Sign in", _login_form(request.query.get("next", _SIGNED_IN_HOME)))


async def log_in(sandbox: "Sandbox", request: web.Request) -> web.Response:
    """The learner signs in with their username (or email) and password; the session
    cookie then identifies them to /oauth2/authorize (and to the API, as a browser's
    session would)."""
    form = await request.post()
    next_url = _local(form.get("next", ""))
    username = sandbox.lms.signed_in(form.get("username", ""), form.get("password", ""))
    if username is None:
        error = '<p role="alert">The username or password is not right.</p>'
        return _page("Sign in", error + _login_form(next_url), status=400)
    session = os.urandom(16).hex()
    sandbox.sessions[session] = username
    response = _redirect(next_url)
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", path="/")
    return response


async def log_out(sandbox: "Sandbox", request: web.Request) -> web.Response:
    sandbox.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    response = _redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- authorization ---------------------------------------------------------------------


async def authorize(sandbox: "Sandbox", request: web.Request) -> web.Response:
    """GET /oauth2/authorize: check the request, then skip or show the consent page."""
    username = _signed_in(sandbox, request)
    if username is None:
        return _to_login(request)
    try:
        asked = _checked(sandbox, request.query)
    except _ErrorPage as error:
        return _error_page(error.description)
    except _ErrorRedirect as error:
        return _redirect(error.location)
    prompt = request.query.get("approval_prompt", "auto_even_if_expired")
    authority, client_id = sandbox.authority, asked.client.client_id
    if (
        asked.client.skip_authorization
        or (
            prompt == "auto_even_if_expired"
            and authority.has_approved(username, client_id, asked.scopes)
        )
        or (prompt == "auto" and authority.has_unexpired(username, client_id, asked.scopes))
    ):
        return _with_code(sandbox, username, asked)
    keeps_challenge = prompt != "auto_even_if_expired"
    return _page(f"Authorize {asked.client.name}", _consent_form(request, asked, keeps_challenge))


async def decide(sandbox: "Sandbox", request: web.Request) -> web.Response:
    """POST /oauth2/authorize: the consent form. Its fields are checked again (the sandbox
    never redirects to a URI it has not checked); "allow" absent is a denial."""
    username = _signed_in(sandbox, request)
    if username is None:
        return _to_login(request)
    form = await request.post()
    try:
        asked = _checked(sandbox, form)
    except _ErrorPage as error:
        return _error_page(error.description)
    except _ErrorRedirect as error:
        return _redirect(error.location)
    if form.get("allow", "").lower() in ("", "false", "off"):
        return _redirect(
            _with_params(asked.redirect_uri, _error_params("access_denied", asked.state))
        )
    return _with_code(sandbox, username, asked)


def _checked(sandbox: "Sandbox", params) -> AuthorizationRequest:
    """oauthlib's AuthorizationCodeGrant.validate_authorization_request, in its order."""
    for name in ("client_id", "response_type", "redirect_uri", "scope", "state"):
        if len(params.getall(name, [])) > 1:
            raise _ErrorPage(f"Duplicate {name} parameter.")
    client_id = params.get("client_id")
    if not client_id:
        raise _ErrorPage("Missing client_id parameter.")
    client = sandbox.authority.clients.get(client_id)
    if client is None:
        raise _ErrorPage("Invalid client_id parameter value.")
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        if not client.redirect_uris:
            raise _ErrorPage("Missing redirect URI.")
        redirect_uri = client.redirect_uris[0]
    elif not _absolute(redirect_uri):
        raise _ErrorPage("Invalid redirect URI.")
    elif not redirect_uri_allowed(redirect_uri, client.redirect_uris):
        raise _ErrorPage("Mismatching redirect URI.")
    state = params.get("state") or None

    def back(error: str, description: str | None = None) -> _ErrorRedirect:
        return _ErrorRedirect(_with_params(redirect_uri, _error_params(error, state, description)))

    response_type = params.get("response_type")
    if response_type is None:
        raise back("invalid_request", "Missing response_type parameter.")
    if response_type == "token":  # the implicit grant: no sandbox client may use it
        raise back("unauthorized_client")
    if "code" not in response_type:
        raise back("unsupported_response_type")
    if not client.allows("authorization_code"):
        raise back("unauthorized_client")
    challenge = params.get("code_challenge") or None
    method = None
    if challenge is not None:
        method = params.get("code_challenge_method") or "plain"
        if method not in _CHALLENGE_METHODS:
            raise back("invalid_request", "Transform algorithm not supported.")
    scopes = tuple((params.get("scope") or "").split()) or DEFAULT_SCOPES
    if not set(scopes) <= set(DEFAULT_SCOPES):
        raise back("invalid_scope")
    return AuthorizationRequest(client, redirect_uri, scopes, state, challenge, method)


def redirect_uri_allowed(uri: str, allowed: tuple[str, ...]) -> bool:
    """DOT's redirect_to_uri_allowed: same scheme, host and path (any port for a loopback
    address registered without one, RFC 8252), and the registered query a subset."""
    parsed = urlparse(uri)
    query = set(parse_qsl(parsed.query))
    for candidate in allowed:
        registered = urlparse(candidate)
        loopback = (
            registered.scheme == "http"
            and registered.hostname in ("127.0.0.1", "::1")
            and registered.port is None
        )
        same_host = registered.netloc == parsed.netloc or (
            loopback and registered.hostname == parsed.hostname
        )
        if (
            same_host
            and registered.scheme == parsed.scheme
            and registered.path == parsed.path
            and set(parse_qsl(registered.query)) <= query
        ):
            return True
    return False


def _with_code(sandbox: "Sandbox", username: str, asked: AuthorizationRequest) -> web.Response:
    code = sandbox.authority.new_code(
        asked.client.client_id,
        username,
        asked.redirect_uri,
        asked.scopes,
        asked.challenge,
        asked.challenge_method,
    )
    params = [("code", code)] + ([("state", asked.state)] if asked.state else [])
    return _redirect(_with_params(asked.redirect_uri, params))


def _error_params(error: str, state: str | None, description: str | None = None) -> list:
    params = [("error", error)]
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    return params


def _with_params(uri: str, params: list[tuple[str, str]]) -> str:
    """oauthlib's add_params_to_uri: the parameters added to the URI's own query."""
    parsed = urlparse(uri)
    query = parse_qsl(parsed.query, keep_blank_values=True) + params
    return urlunparse(parsed._replace(query=urlencode(query)))


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def _absolute(uri: str) -> bool:
    parsed = urlparse(uri)
    return bool(parsed.scheme and parsed.netloc)


def _signed_in(sandbox: "Sandbox", request: web.Request) -> str | None:
    username = sandbox.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    return username if username is not None and sandbox.lms.learner(username) else None


def _to_login(request: web.Request) -> web.Response:
    """LoginRequiredMixin: to the sign-in page, coming back here afterwards."""
    return _redirect("/login?" + urlencode({"next": str(request.rel_url)}))


def _local(url: str) -> str:
    """Only a path on this LMS (no open redirect through `next`)."""
    return url if url.startswith("/") and not url.startswith("//") else _SIGNED_IN_HOME


# --- pages -----------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)} | Sandbox LMS</title>\n</head>\n<body>\n<main>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=text, content_type="text/html")


def _login_form(next_url: str) -> str:
    return (
        '<form method="post" action="/login">\n'
        f'<input type="hidden" name="next" value="{html.escape(next_url)}">\n'
        '<p><label for="username">Username or email</label>\n'
        '<input id="username" name="username" autocomplete="username" required></p>\n'
        '<p><label for="password">Password</label>\n'
        '<input id="password" name="password" type="password" autocomplete="current-password"'
        " required></p>\n"
        '<p><button type="submit">Sign in</button></p>\n</form>'
    )


def _consent_form(request: web.Request, asked: AuthorizationRequest, keeps_challenge: bool) -> str:
    fields = {
        "client_id": asked.client.client_id,
        "redirect_uri": asked.redirect_uri,
        "response_type": "code",
        "scope": " ".join(asked.scopes),
        "state": asked.state or "",
    }
    if keeps_challenge and asked.challenge is not None:
        fields["code_challenge"] = asked.challenge
        fields["code_challenge_method"] = asked.challenge_method
    hidden = "\n".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    scopes = "\n".join(f"<li>{html.escape(SCOPE_DESCRIPTIONS[s])}</li>" for s in asked.scopes)
    name = html.escape(asked.client.name)
    return (
        f"<p>{name} would like to:</p>\n<ul>\n{scopes}\n</ul>\n"
        f'<form method="post" action="{html.escape(request.path)}">\n{hidden}\n'
        '<p><button type="submit" name="allow" value="Authorize">Allow</button>\n'
        '<button type="submit">Cancel</button></p>\n</form>'
    )


def _error_page(description: str) -> web.Response:
    body = f'<p role="alert">Error: invalid_request</p>\n<p>{html.escape(description)}</p>'
    return _page("Authorization error", body, status=400)
