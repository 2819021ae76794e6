"""The LMS's OAuth2 provider: clients, tokens, authorization codes and JWTs.

It holds what django-oauth-toolkit holds for edX (Application, AccessToken, RefreshToken,
Grant) and decides what its validator decides; the HTTP side is in `sandbox.tokens` and
`sandbox.signin`. Tokens given in the data file were granted to the learners' client
when the sandbox started.
"""

import hashlib
import random
import time
from dataclasses import dataclass, field
from itertools import count

import jwt

from sandbox.settings import SandboxSettings

# OAUTH2_DEFAULT_SCOPES of lms/envs/common.py: what a token holds when no scope is asked.
DEFAULT_SCOPES = ("read", "write", "email", "profile")
SCOPE_DESCRIPTIONS = {
    "read": "Read access",
    "write": "Write access",
    "email": "Know your email address",
    "profile": "Know your name and username",
}
# django-oauth-toolkit's GRANT_TYPE_MAPPING: the grants each Application type may use.
GRANT_TYPE_MAPPING = {
    "authorization_code": ("authorization-code",),
    "password": ("password",),
    "client_credentials": ("client-credentials",),
    "refresh_token": ("authorization-code", "password", "client-credentials"),
}
JWT_AUDIENCE = "lms-key"
JWT_VERSION = "1.2.0"


@dataclass(frozen=True)
class Client:
    """A django-oauth-toolkit Application: one grant type, and a user (staff or not)."""

    client_id: str
    client_secret: str
    grant_type: str
    staff: bool
    redirect_uris: tuple[str, ...]
    name: str
    skip_authorization: bool

    @classmethod
    def from_json(cls, raw: dict) -> "Client":
        """A data file's client; one without a grant type is a client-credentials
        Application, whose refresh grant DOT's GRANT_TYPE_MAPPING also allows: so the one
        client of older data files keeps refreshing learners' grants and reading as staff."""
        return cls(
            client_id=raw["client_id"],
            client_secret=raw["client_secret"],
            grant_type=raw.get("grant_type", "client-credentials"),
            staff=raw.get("staff", False),
            redirect_uris=tuple(raw.get("redirect_uris", "").split()),
            name=raw.get("name", raw["client_id"]),
            skip_authorization=raw.get("skip_authorization", False),
        )

    def allows(self, grant: str) -> bool:
        return self.grant_type in GRANT_TYPE_MAPPING.get(grant, ())


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request speaks for: a learner, or an OAuth client's own user (maybe staff)."""

    username: str
    staff: bool = False
    learner: bool = True
    client_id: str | None = None

    @property
    def throttle_key(self) -> str:
        return self.username if self.learner else f"client:{self.client_id}"


@dataclass(slots=True, eq=False)
class Grant:
    """An AccessToken and its RefreshToken (none for client credentials)."""

    access_token: str
    refresh_token: str | None
    principal: Principal
    client_id: str | None
    scopes: tuple[str, ...]
    expires_at: float  # monotonic


@dataclass(slots=True)
class AuthorizationCode:
    """A DOT Grant: what the learner approved, for one exchange at the token endpoint."""

    code: str
    client_id: str
    username: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    challenge_method: str | None
    expires_at: float


class TokenConflict(ValueError):
    """A token a learner is given that someone else already holds."""


@dataclass
class Authority:
    """Clients, live grants and codes of one sandbox."""

    clients: dict[str, Client]
    settings: SandboxSettings
    seed: int | None = None
    _by_access: dict[str, Grant] = field(default_factory=dict)
    _by_refresh: dict[str, Grant] = field(default_factory=dict)
    _grants_of: dict[str, list[Grant]] = field(default_factory=dict)
    _shown: dict[str, tuple[str, str]] = field(default_factory=dict)
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._serial = count(1)
        self._rng = random.Random(self.seed)
        learner_clients = [c for c in self.clients.values() if c.allows("authorization_code")]
        fallback = next(iter(self.clients), None)
        # The client the data file's tokens were granted to.
        self.learner_client_id = learner_clients[0].client_id if learner_clients else fallback

    @classmethod
    def from_dataset(
        cls, dataset: dict, settings: SandboxSettings, seed: int | None
    ) -> "Authority":
        authority = cls(
            {c["client_id"]: Client.from_json(c) for c in dataset["clients"]}, settings, seed
        )
        for username, learner in dataset["learners"].items():
            authority.give_tokens(username, learner["access_token"], learner["refresh_token"])
            if learner["revoked"]:
                authority.revoke(username)
        return authority

    # --- clients ---------------------------------------------------------------------

    def authenticated_client(self, client_id: object, secret: object) -> Client | None:
        client = self.clients.get(client_id) if isinstance(client_id, str) else None
        return client if client is not None and client.client_secret == secret else None

    # --- tokens ----------------------------------------------------------------------

    def grant_of(self, access_token: str) -> Grant | None:
        return self._by_access.get(access_token)

    def is_expired(self, grant: Grant) -> bool:
        return time.monotonic() >= grant.expires_at

    def refreshable(self, refresh_token: str, client: Client) -> Grant | None:
        """DOT's validate_refresh_token: a live token of this client, not yet cleared by
        edx_clear_expired_tokens (its access token expired REFRESH_TOKEN_EXPIRE_SECONDS ago)."""
        grant = self._by_refresh.get(refresh_token)
        if grant is None or grant.client_id != client.client_id:
            return None
        cleared_at = grant.expires_at + self.settings.refresh_token_expire_seconds
        return grant if time.monotonic() < cleared_at else None

    def rotate(self, grant: Grant) -> dict:
        """A new pair for the same learner, client and scopes; the old pair stops working
        at once (ROTATE_REFRESH_TOKEN, no grace period)."""
        self._drop(grant)
        return self._issue(grant.principal, grant.client_id, grant.scopes, refresh=True)

    def issue_service_token(self, client: Client) -> dict:
        """Client credentials: a token of the client's own user (EdxOAuth2Validator), no
        refresh token."""
        principal = Principal(
            client.client_id, client.staff, learner=False, client_id=client.client_id
        )
        return self._issue(principal, client.client_id, DEFAULT_SCOPES, refresh=False)

    def issue_for_code(self, code: AuthorizationCode) -> dict:
        return self._issue(
            Principal(code.username, client_id=code.client_id), code.client_id, code.scopes, True
        )

    def give_tokens(self, username: str, access: str, refresh: str) -> None:
        """Replace a learner's grants by one pair, granted to the learners' client now."""
        for token, index in ((access, self._by_access), (refresh, self._by_refresh)):
            holder = index.get(token)
            if holder is not None and holder.principal.username != username:
                raise TokenConflict(f"{token!r} is already in use by {holder.principal.username}")
        self.revoke(username)
        grant = Grant(
            access,
            refresh,
            Principal(username, client_id=self.learner_client_id),
            self.learner_client_id,
            DEFAULT_SCOPES,
            time.monotonic() + self.settings.access_token_expire_seconds,
        )
        self._keep(grant)

    def revoke(self, username: str) -> None:
        """The learner revoked the application (or was retired): their tokens are deleted."""
        for grant in self._grants_of.pop(username, []):
            self._by_access.pop(grant.access_token, None)
            if grant.refresh_token is not None:
                self._by_refresh.pop(grant.refresh_token, None)

    def holds_tokens(self, username: str) -> bool:
        return bool(self._grants_of.get(username))

    def shown_tokens(self, username: str) -> tuple[str, str]:
        """The learner's latest (access, refresh) pair, for the control endpoints."""
        return self._shown[username]

    def has_approved(self, username: str, client_id: str, scopes: tuple[str, ...]) -> bool:
        """Whether the learner holds a token of this client covering these scopes, expired
        or not (EdxOAuth2AuthorizationView's "auto_even_if_expired")."""
        return any(
            g.client_id == client_id and set(scopes) <= set(g.scopes)
            for g in self._grants_of.get(username, ())
        )

    def has_unexpired(self, username: str, client_id: str, scopes: tuple[str, ...]) -> bool:
        """DOT's approval_prompt=auto: the same, among tokens not yet expired."""
        return any(
            g.client_id == client_id and set(scopes) <= set(g.scopes) and not self.is_expired(g)
            for g in self._grants_of.get(username, ())
        )

    def _issue(self, principal: Principal, client_id: str | None, scopes, refresh: bool) -> dict:
        kind = "at" if principal.learner else "st"
        grant = Grant(
            self._new_token(kind, principal.username),
            self._new_token("rt", principal.username) if refresh else None,
            principal,
            client_id,
            tuple(scopes),
            time.monotonic() + self.settings.access_token_expire_seconds,
        )
        self._keep(grant)
        answer = {
            "access_token": grant.access_token,
            "expires_in": int(self.settings.access_token_expire_seconds),
            "token_type": "Bearer",
            "scope": " ".join(grant.scopes),
        }
        if grant.refresh_token is not None:
            answer["refresh_token"] = grant.refresh_token
        return answer

    def _keep(self, grant: Grant) -> None:
        self._by_access[grant.access_token] = grant
        if grant.refresh_token is not None:
            self._by_refresh[grant.refresh_token] = grant
        if grant.principal.learner:
            self._grants_of.setdefault(grant.principal.username, []).append(grant)
            self._shown[grant.principal.username] = (grant.access_token, grant.refresh_token)

    def _drop(self, grant: Grant) -> None:
        self._by_access.pop(grant.access_token, None)
        if grant.refresh_token is not None:
            self._by_refresh.pop(grant.refresh_token, None)
        grants = self._grants_of.get(grant.principal.username)
        if grants and grant in grants:
            grants.remove(grant)

    def _new_token(self, kind: str, owner: str) -> str:
        return f"{kind}-{owner}-{next(self._serial)}-{self._rng.getrandbits(48):012x}"

    # --- authorization codes ---------------------------------------------------------

    def new_code(self, client_id, username, redirect_uri, scopes, challenge, method) -> str:
        code = f"{self._rng.getrandbits(160):040x}"
        expires_at = time.monotonic() + self.settings.authorization_code_expire_seconds
        self._codes[code] = AuthorizationCode(
            code, client_id, username, redirect_uri, tuple(scopes), challenge, method, expires_at
        )
        return code

    def valid_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """DOT's validate_code: this client's code, not expired (used ones are deleted)."""
        found = self._codes.get(code)
        if found is None or found.client_id != client.client_id:
            return None
        return found if time.monotonic() < found.expires_at else None

    def spend_code(self, code: AuthorizationCode) -> None:
        self._codes.pop(code.code, None)

    # --- JWTs ------------------------------------------------------------------------

    def jwt_answer(self, answer: dict, issuer: str, email: str, name: str | None) -> dict:
        """create_jwt_token_dict: the token answer with a JWT for its access token, claims
        as _create_jwt gives them (email and profile claims for those scopes)."""
        grant = self._by_access[answer["access_token"]]
        client = self.clients.get(grant.client_id)
        now = int(time.time())
        principal = grant.principal
        payload = {
            "aud": JWT_AUDIENCE,
            "exp": now + int(self.settings.jwt_expire_seconds),
            "grant_type": client.grant_type if client else "",
            "iat": now,
            "iss": issuer,
            "preferred_username": principal.username,
            "scopes": list(grant.scopes),
            "version": JWT_VERSION,
            "sub": hashlib.md5(f"sandbox:{principal.username}".encode()).hexdigest(),
            "filters": [],
            "is_restricted": False,
            "email_verified": True,
        }
        if "email" in grant.scopes:
            payload["email"] = email
        if "profile" in grant.scopes:
            payload.update(
                name=name,
                family_name="",
                given_name="",
                administrator=principal.staff,
                superuser=False,
            )
        return {
            **answer,
            "access_token": jwt.encode(payload, self.settings.jwt_secret, algorithm="HS256"),
            "token_type": "JWT",
            "expires_in": int(self.settings.jwt_expire_seconds),
            "scope": " ".join(grant.scopes),
        }

    def jwt_payload(self, token: str) -> dict:
        """The claims of a JWT this sandbox signed; raises jwt.InvalidTokenError."""
        return jwt.decode(
            token,
            self.settings.jwt_secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "require": ["exp", "preferred_username"]},
        )
