"""A learner's browser going through "Sign in with edX" over HTTP, without a browser:
the platform's /login/edxorg/, the sandbox's sign-in page and consent form, and back."""

import re
from html import unescape
from urllib.parse import urljoin

import requests

_INPUT = re.compile(r"<input[^>]*>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def platform_url(live_server) -> str:
    """The live server as 127.0.0.1: the sandbox's learners' client registers
    http://127.0.0.1/complete/edxorg/ (any port), not localhost."""
    return live_server.url.replace("localhost", "127.0.0.1")


def form_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in _INPUT.findall(html):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("type") == "hidden" and "name" in attrs:
            fields[attrs["name"]] = unescape(attrs.get("value", ""))
    return fields


def sign_in_with_edx(
    session: requests.Session, platform: str, username: str, password: str = "edx", allow=True
) -> requests.Response:
    """Click "Sign in with edX", sign in on the LMS, answer its consent page if it shows
    one; returns the platform's last answer."""
    home = session.get(f"{platform}/", timeout=20)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
    page = session.post(
        f"{platform}/login/edxorg/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{platform}/"},
        timeout=20,
    )
    assert 'action="/login"' in page.text, page.text[:500]
    lms = page.url.split("/login", 1)[0]
    fields = form_fields(page.text)
    page = session.post(
        f"{lms}/login",
        data={**fields, "username": username, "password": password},
        timeout=20,
    )
    if page.url.startswith(lms) and 'name="allow"' in page.text:
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        data = form_fields(page.text)
        if allow:
            data["allow"] = "Authorize"
        page = session.post(urljoin(page.url, unescape(action)), data=data, timeout=20)
    else:
        assert allow, "the LMS did not ask for consent: nothing to deny"
    return page
