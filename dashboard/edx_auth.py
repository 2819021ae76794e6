"""The social-auth backend that links a learner's account to edX (provider `edxorg`).

social-core does the OAuth2 work: the authorization-code grant with PKCE when a
learner signs in, and the refresh-token grant afterwards. edX's token response has
no username, so the backend asks the user API who the token belongs to
(`/api/user/v1/me`), then reads the account for the email
(`/api/user/v1/accounts/{username}`), as edx-platform's own "Sign in with edX"
clients do.
"""

from typing import Any
from urllib.parse import quote

from django.conf import settings
from social_core.backends.oauth import BaseOAuth2PKCE

from dashboard.lms_client import authorization_scheme


class EdxOrgOAuth2(BaseOAuth2PKCE):
    name = "edxorg"
    ID_KEY = "username"
    REFRESH_TOKEN_METHOD = "POST"
    ACCESS_TOKEN_METHOD = "POST"
    # edX's authorize endpoint keeps `state` (oauthlib); the redirect URI is registered
    # without a query, so social-core's redirect_state parameter is not used.
    STATE_PARAMETER = True
    REDIRECT_STATE = False
    DEFAULT_SCOPE = ["read", "write", "email", "profile"]
    EXTRA_DATA = [
        ("refresh_token", "refresh_token", True),
        ("expires_in", "expires_in"),
        ("token_type", "token_type", True),
        ("scope", "scope"),
    ]

    def authorization_url(self) -> str:
        return f"{settings.EDXORG_BASE_URL}oauth2/authorize/"

    def access_token_url(self) -> str:
        return f"{settings.EDXORG_BASE_URL}oauth2/access_token"

    def auth_complete_params(self, state: str | None = None) -> dict:
        """The code exchange asks for EDX_TOKEN_TYPE (edX issues a JWT for token_type=jwt:
        oauth_dispatch/views.py AccessTokenView.dispatch)."""
        return {**super().auth_complete_params(state), "token_type": settings.EDX_TOKEN_TYPE}

    def refresh_token_params(self, token: str, *args: Any, **kwargs: Any) -> dict:
        """A refresh asks for EDX_TOKEN_TYPE too, so a learner's new token is of that type."""
        params = super().refresh_token_params(token, *args, **kwargs)
        return {**params, "token_type": settings.EDX_TOKEN_TYPE}

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Who the token belongs to: the username from /api/user/v1/me, the email from
        their account."""
        token_type = (kwargs.get("response") or {}).get("token_type")
        headers = {"Authorization": f"{authorization_scheme(token_type)} {access_token}"}
        me = self.get_json(f"{settings.EDXORG_BASE_URL}api/user/v1/me", headers=headers)
        username = me["username"]
        account = self.get_json(
            f"{settings.EDXORG_BASE_URL}api/user/v1/accounts/{quote(username, safe='')}",
            headers=headers,
        )
        return {"username": username, "email": account.get("email") or ""}

    def allow_unverified_legacy_uid_migration(self, old_id_key: str, id_key: str) -> bool:
        """A link stored without an id_key (before social-auth-app-django 8 kept one, or
        written by a bulk seed) whose uid is this username is this learner: the uid of
        an edX link has always been the edX username, which is ID_KEY."""
        if old_id_key == "" and id_key == self.ID_KEY:
            return True
        return bool(super().allow_unverified_legacy_uid_migration(old_id_key, id_key))

    def get_user_details(self, response: dict) -> dict:
        return {"username": response.get("username"), "email": response.get("email", "")}
