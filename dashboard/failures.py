"""Why a learner's final grade could not be frozen: the one list of stages and reasons.

A failure is recorded with the stage it happened at and a reason. Reading the LMS
fails at the token refresh or the cache refresh; applying the grading policy fails at
the computation; anything else is a bug, recorded as unexpected, and so is a learner
whose chunk killed its worker every time (no stage is known to have been reached). Reasons are the
constants below, or what the LMS itself named (an OAuth error code of the token
endpoint) or the exception's class for unexpected failures.
"""

import contextlib
import json
from collections.abc import Iterator
from enum import StrEnum

import aiohttp
import requests
import urllib3
from django.db import models


class Stage(models.TextChoices):
    TOKEN_REFRESH = "token_refresh", "token refresh"
    CACHE_REFRESH = "cache_refresh", "cache refresh"
    COMPUTATION = "computation", "computation"
    UNEXPECTED = "unexpected", "unexpected error"


class Reason(StrEnum):
    # Token refresh
    NO_EDX_LINK = "no_edx_link"
    NO_ACCESS_TOKEN = "no_access_token"
    REAUTHENTICATION_REQUIRED = "reauthentication_required"
    # Any LMS request
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    MALFORMED_RESPONSE = "malformed_response"
    # The LMS kept refusing the request for its rate past EDX_THROTTLE_PATIENCE.
    THROTTLED = "throttled"
    # A certificate read: edX's 404 other than no_certificate_for_user (certificates/apis/
    # v0/views.py CertificatesDetailView.get), with its own error_code; without one, or
    # with one edX does not document, CERTIFICATE_NOT_FOUND.
    NO_CERTIFICATE_CONFIGURATION_FOR_COURSE = "no_certificate_configuration_for_course"
    COURSE_ID_NOT_VALID = "course_id_not_valid"
    CERTIFICATE_NOT_FOUND = "certificate_not_found"
    # Computation
    NO_CURRENT_GRADE = "no_current_grade"
    # The certificate is being generated: its status is not final, so no final grade yet;
    # retry_failed_final_grades (or a later freeze) reads the learner again.
    CERTIFICATE_GENERATING = "certificate_generating"
    MALFORMED_CURRENT_GRADE = "malformed_current_grade"
    MALFORMED_CERTIFICATE = "malformed_certificate"
    MALFORMED_ENROLLMENT = "malformed_enrollment"
    # A chunk delivered FREEZE_MAX_DELIVERIES times that never finished: its worker died
    # each time (out of memory, a crash) or it ran past its time limit.
    WORKER_LOST = "worker_lost"


# Failures that say "not yet" rather than "wrong": edX is still generating the
# certificate, or kept throttling past our patience. Beat sends these learners again, as
# a round of their own, every FREEZE_RETRY_WAITING_SECONDS.
WAITING_REASONS = frozenset({Reason.CERTIFICATE_GENERATING, Reason.THROTTLED})


class Throttled(Exception):
    """The LMS kept refusing an endpoint for its rate past EDX_THROTTLE_PATIENCE
    (raised by dashboard.rate_limits.call)."""

    def __init__(self, endpoint: str, status: int, waited_s: float) -> None:
        super().__init__(
            f"the LMS throttled {endpoint} (HTTP {status}) for {waited_s:.0f} s, "
            "past EDX_THROTTLE_PATIENCE"
        )
        self.endpoint = endpoint
        self.status = status


class EdxRefreshError(Exception):
    """The learner's edX data could not be read or refreshed; says at which stage and why."""

    def __init__(
        self, stage: str, reason: str, http_status: int | None = None, during: str = ""
    ) -> None:
        super().__init__(f"{stage}: {reason}" + (f" (HTTP {http_status})" if http_status else ""))
        self.stage = stage
        self.reason = reason
        self.http_status = http_status
        self.during = during or stage  # where an unexpected failure happened


# The one 404 of the certificate endpoint that means "this learner has no certificate".
NO_CERTIFICATE_FOR_USER = "no_certificate_for_user"
_CERTIFICATE_404_REASONS = {
    reason.value: reason
    for reason in (Reason.NO_CERTIFICATE_CONFIGURATION_FOR_COURSE, Reason.COURSE_ID_NOT_VALID)
}


def no_certificate(body: bytes | str | None) -> None:
    """Read a certificate endpoint's 404: returns when it means the learner has no
    certificate (error_code no_certificate_for_user), else raises the learner's failure
    with the reason edX gave."""
    code = None
    try:
        answer = json.loads(body or b"")
        code = answer.get("error_code") if isinstance(answer, dict) else None
    except ValueError:
        pass
    if code == NO_CERTIFICATE_FOR_USER:
        return
    reason = _CERTIFICATE_404_REASONS.get(str(code), Reason.CERTIFICATE_NOT_FOUND)
    raise EdxRefreshError(Stage.CACHE_REFRESH, reason, 404)


@contextlib.contextmanager
def edx_errors(stage: str = Stage.CACHE_REFRESH) -> Iterator[None]:
    """Turn what requests, urllib3, aiohttp and edx-api-client raise into EdxRefreshError
    of `stage`."""
    try:
        yield
    except Throttled as error:
        raise EdxRefreshError(stage, Reason.THROTTLED, error.status) from error
    except requests.JSONDecodeError as error:  # a RequestException too: must come first
        raise EdxRefreshError(stage, Reason.MALFORMED_RESPONSE) from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        raise EdxRefreshError(stage, Reason.HTTP_ERROR, status) from error
    except requests.Timeout as error:
        raise EdxRefreshError(stage, Reason.TIMEOUT) from error
    except requests.RequestException as error:
        raise EdxRefreshError(stage, Reason.CONNECTION_ERROR) from error
    except urllib3.exceptions.MaxRetryError as error:  # the staff reader's, retries spent
        timed_out = isinstance(error.reason, urllib3.exceptions.TimeoutError)
        reason = Reason.TIMEOUT if timed_out else Reason.CONNECTION_ERROR
        raise EdxRefreshError(stage, reason) from error
    except urllib3.exceptions.TimeoutError as error:
        raise EdxRefreshError(stage, Reason.TIMEOUT) from error
    except urllib3.exceptions.HTTPError as error:
        raise EdxRefreshError(stage, Reason.CONNECTION_ERROR) from error
    except TimeoutError as error:  # aiohttp's, retries spent (asyncio.TimeoutError is it)
        raise EdxRefreshError(stage, Reason.TIMEOUT) from error
    except aiohttp.ClientError as error:
        raise EdxRefreshError(stage, Reason.CONNECTION_ERROR) from error
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise EdxRefreshError(stage, Reason.MALFORMED_RESPONSE) from error


def learner_error(error: Exception, stage: str = Stage.CACHE_REFRESH) -> EdxRefreshError:
    """An exception raised while reading one learner, as the failure recorded for them.

    LMS faults become EdxRefreshError of `stage`; anything else is a bug, recorded as
    unexpected (with the bug as its cause and the stage it happened `during`) so that
    one learner's bug does not stop the others; the chunk reports its bugs to Sentry,
    once per kind.
    """
    if isinstance(error, EdxRefreshError):
        return error
    try:
        with edx_errors(stage):
            raise error
    except EdxRefreshError as refresh_error:
        return refresh_error
    except Exception:
        unexpected = EdxRefreshError(Stage.UNEXPECTED, type(error).__name__, during=stage)
        unexpected.__cause__ = error
        return unexpected
