"""The social-auth backend that links a learner's account to edX (provider `edxorg`).

social-core does the OAuth2 work, including the refresh-token grant; this only
says where the LMS is and which token fields to keep in `extra_data`.
"""

from typing import Any

from django.conf import settings
from social_core.backends.oauth import BaseOAuth2


class EdxOrgOAuth2(BaseOAuth2):
    name = "edxorg"
    ID_KEY = "username"
    REFRESH_TOKEN_METHOD = "POST"
    ACCESS_TOKEN_METHOD = "POST"
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

    def get_user_details(self, response: dict) -> dict:
        return {"username": response.get("username"), "email": response.get("email", "")}
