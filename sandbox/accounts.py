"""The user API a "Sign in with edX" needs: who the token is, and their account.

openedx/core/djangoapps/user_api/urls.py routes `v1/me` (name own_username_api) and
`v1/accounts/{username}` to AccountViewSet (accounts/views.py: `get` and `retrieve`),
both without a trailing slash. The account is serialized by UserReadOnlySerializer
(accounts/serializers.py): the owner and staff see ACCOUNT_VISIBILITY_CONFIGURATION's
admin_fields, other users its bulk_shareable_fields (default visibility "all_users").
"""

from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.answers import Reply, Style

if TYPE_CHECKING:
    from sandbox.server import Sandbox

# lms/envs/common.py, ACCOUNT_VISIBILITY_CONFIGURATION.
PUBLIC_FIELDS = ("account_privacy", "profile_image", "username")
SHAREABLE_FIELDS = PUBLIC_FIELDS + (
    "bio",
    "course_certificates",
    "country",
    "date_joined",
    "language_proficiencies",
    "level_of_education",
    "social_links",
    "time_zone",
)
ADMIN_FIELDS = SHAREABLE_FIELDS + (
    "name",
    "email",
    "id",
    "verified_name",
    "extended_profile",
    "gender",
    "state",
    "goals",
    "is_active",
    "last_login",
    "mailing_address",
    "requires_parental_consent",
    "secondary_email",
    "secondary_email_enabled",
    "year_of_birth",
    "phone_number",
    "pending_name_change",
)
# A profile without an uploaded image: edX's default image URLs, by size.
_IMAGE_SIZES = {"full": 500, "large": 120, "medium": 50, "small": 30}


async def me(sandbox: "Sandbox", request: web.Request) -> Reply:
    """GET /api/user/v1/me: AccountViewSet.get, the requester's username only."""
    principal = sandbox.principal(request, Style.DRF)
    return await sandbox.answer("user", (principal.username,), {"username": principal.username})


async def account(sandbox: "Sandbox", request: web.Request) -> Reply:
    """GET /api/user/v1/accounts/{username}: AccountViewSet.retrieve; 404 with no body for
    an unknown user."""
    principal = sandbox.principal(request, Style.DRF)
    username = request.match_info["username"]
    if sandbox.lms.learner(username) is None:
        return await sandbox.answer("user", (), None, 404)
    full = (principal.staff or principal.username == username) and request.query.get(
        "view"
    ) != "shared"
    known = _known_fields(sandbox, request, username)
    fields = ADMIN_FIELDS if full else SHAREABLE_FIELDS
    return await sandbox.answer("user", (username,), {f: known.get(f) for f in fields})


def _known_fields(sandbox: "Sandbox", request: web.Request, username: str) -> dict:
    """The serializer's values the sandbox knows; the rest of a fresh profile."""
    static = f"{request.url.origin()}/static/images/profiles/default"
    return {
        **sandbox.lms.account(username),
        "account_privacy": "all_users",
        "profile_image": {
            "has_image": False,
            **{f"image_url_{size}": f"{static}_{px}.png" for size, px in _IMAGE_SIZES.items()},
        },
        "language_proficiencies": [],
        "social_links": [],
        "extended_profile": [],
        "requires_parental_consent": True,  # no year of birth: UserProfile's default
    }
