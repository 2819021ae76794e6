"""A sign-in with edX that fails lands on a page saying what happened, never a traceback.

social-core raises its exceptions from the sign-in views (/login/edxorg/,
/complete/edxorg/): the learner denied consent, the `state` does not match the one
this browser was given, or the LMS could not be reached or answered wrongly.
"""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from social_core.exceptions import (
    AuthCanceled,
    AuthInputError,
    AuthProviderError,
    AuthSessionError,
    SocialAuthBaseException,
)

DENIED = (
    "You did not allow gradefreeze to use your edX account, so you are not signed in. "
    "Sign in again and choose Allow to see your final grades."
)
STALE = (
    "This sign-in could not be checked: it expired, was started in another browser, "
    "or was already used. Start again from the button below."
)
log = logging.getLogger(__name__)

LMS_DOWN = (
    "edX could not be reached or did not answer as expected, so you are not signed in. "
    "Try again in a few minutes."
)


def sign_in_error_message(error: SocialAuthBaseException) -> tuple[str, int]:
    """What to tell the learner, and the page's HTTP status."""
    if isinstance(error, AuthCanceled):
        return DENIED, 403
    if isinstance(error, AuthSessionError | AuthInputError):
        return STALE, 400
    if isinstance(error, AuthProviderError):
        return LMS_DOWN, 502
    return LMS_DOWN, 502


class SignInErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, SocialAuthBaseException):
            return None
        message, status = sign_in_error_message(exception)
        log.warning("sign-in with edX failed: %r", exception)
        return render(request, "learners/sign_in_error.html", {"message": message}, status=status)
