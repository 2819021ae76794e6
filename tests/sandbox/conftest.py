"""Fixtures for the sandbox tests: a small LMS served for real on a free localhost port.

No Django here: these tests talk HTTP to the sandbox through edx-api-client and requests,
exactly as gradefreeze will.
"""

import pytest
import requests
from edx_api.client import EdxApi

from sandbox.background import BackgroundSandbox
from sandbox.dataset import DEFAULT_CLIENT, DEFAULT_STAFF_CLIENT

ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"
DEMO = "course-v1:edX+DemoX+Demo_Course"


def _enrollment(username: str, course_id: str, mode: str) -> dict:
    details = {
        "course_id": course_id,
        "course_start": "2015-01-06T15:00:00Z",
        "course_end": "2015-05-26T23:30:00Z",
        "enrollment_start": None,
        "enrollment_end": None,
        "invite_only": False,
        "course_modes": [{"slug": "verified", "name": "Verified Certificate", "min_price": 49}],
    }
    created = "2014-12-02T09:15:00Z"
    return {
        "course_details": details,
        "created": created,
        "is_active": True,
        "mode": mode,
        "user": username,
    }


def _grade(username: str, course_id: str, percent: float) -> dict:
    return {
        "course_id": course_id,
        "email": f"{username}@example.com",
        "passed": percent >= 0.5,
        "percent": percent,
        "letter_grade": "Pass" if percent >= 0.5 else None,
        "username": username,
    }


def _certificate(username: str, course_id: str, status: str) -> dict:
    return {
        "username": username,
        "course_id": course_id,
        "certificate_type": "verified",
        "status": status,
        "download_url": f"https://sandbox.example.com/certificates/{username}",
        "grade": "0.91",
        "created_date": "2015-06-01T10:00:00Z",
        "is_passing": status == "downloadable",
    }


def _learner(username: str, courses: dict[str, float], **extra) -> dict:
    return {
        "email": f"{username}@example.com",
        "access_token": f"at-{username}-0",
        "refresh_token": f"rt-{username}-0",
        "enrollments": [_enrollment(username, c, "verified") for c in courses],
        "grades": [_grade(username, c, p) for c, p in courses.items()],
        "certificates": [
            _certificate(username, c, "downloadable") for c, p in courses.items() if p >= 0.5
        ],
        **extra,
    }


@pytest.fixture
def dataset() -> dict:
    """alice (two courses, one passed), bob and carol (Analog), dave (revoked access).

    Clients: gradefreeze (the learners' tokens are its grants), gradefreeze-staff (client
    credentials, staff), reporting (client credentials, not staff), catalog (authorization
    code, no learner has approved it yet).
    """
    return {
        "seed": 7,
        "clients": [
            dict(DEFAULT_CLIENT),
            dict(DEFAULT_STAFF_CLIENT),
            {"client_id": "reporting", "client_secret": "reporting-secret"},
            {
                "client_id": "catalog",
                "client_secret": "catalog-secret",
                "grant_type": "authorization-code",
                "redirect_uris": "https://catalog.example.com/callback http://127.0.0.1/cb",
                "name": "Course Catalog",
            },
        ],
        "learners": {
            "alice": _learner("alice", {ANALOG: 0.91, DEMO: 0.42}),
            "bob": _learner("bob", {ANALOG: 0.67}),
            "carol": _learner("carol", {ANALOG: 0.12}),
            "dave": _learner("dave", {ANALOG: 0.88}, revoked=True),
        },
    }


@pytest.fixture
def run_sandbox():
    """Start sandboxes on free ports: run_sandbox(dataset, latency_ms=0, seed=None, **settings)
    (settings as build_app takes them: throttles="off", rates={...}, ...)."""
    running = []

    def start(
        data: dict, latency_ms: float = 0, seed: int | None = None, **settings
    ) -> BackgroundSandbox:
        sandbox = BackgroundSandbox(data, latency_ms=latency_ms, seed=seed, **settings).start()
        running.append(sandbox)
        return sandbox

    yield start
    for sandbox in running:
        sandbox.stop()


@pytest.fixture
def lms(run_sandbox, dataset) -> BackgroundSandbox:
    """The small dataset, served without latency."""
    return run_sandbox(dataset)


@pytest.fixture
def edx():
    """edx(sandbox, token, timeout=5): an EdxApi client for that sandbox and token."""

    def make(sandbox: BackgroundSandbox, token: str, timeout: float = 5.0) -> EdxApi:
        return EdxApi({"access_token": token}, base_url=sandbox.url, timeout=timeout)

    return make


@pytest.fixture
def oauth():
    """oauth(sandbox, **form): POST the form to the sandbox's token endpoint."""

    def post(sandbox: BackgroundSandbox, **form) -> requests.Response:
        return requests.post(f"{sandbox.url}oauth2/access_token", data=form, timeout=5)

    return post


@pytest.fixture
def staff_token_for(oauth):
    """staff_token_for(sandbox): a staff service token, from the client credentials grant."""

    def token(sandbox: BackgroundSandbox) -> str:
        answer = oauth(
            sandbox,
            grant_type="client_credentials",
            client_id=DEFAULT_STAFF_CLIENT["client_id"],
            client_secret=DEFAULT_STAFF_CLIENT["client_secret"],
        )
        return answer.json()["access_token"]

    return token


@pytest.fixture
def staff_token(lms, staff_token_for) -> str:
    """A staff service token for `lms`."""
    return staff_token_for(lms)


@pytest.fixture
def control():
    """control(sandbox, method, path, **kwargs): call a /_sandbox/ control endpoint."""

    def call(sandbox: BackgroundSandbox, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{sandbox.url}_sandbox/{path}", timeout=5, **kwargs)

    return call


@pytest.fixture
def get():
    """get(sandbox, path or URL, token=None, **kwargs): GET from the LMS, with a Bearer token
    if given."""

    def call(sandbox: BackgroundSandbox, path: str, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else f"{sandbox.url}{path.lstrip('/')}"
        return requests.get(url, headers=headers, timeout=5, **kwargs)

    return call
