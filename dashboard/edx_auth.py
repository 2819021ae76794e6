"""The social-auth backend that links a learner's account to edX (provider `edxorg`).

social-core does the OAuth2 work, including the refresh-token grant; this only
says where the LMS is and which token fields to keep in `extra_data`.
"""

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

    def get_user_details(self, response: dict) -> dict:
        return {"username": response.get("username"), "email": response.get("email", "")}
