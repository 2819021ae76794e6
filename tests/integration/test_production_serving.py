"""Production's web process: gunicorn with production settings, static files from WhiteNoise
after the release's collectstatic, as the Procfile runs them."""

import os
import re
import subprocess
import sys

import pytest
import requests

from bench.processes import free_port, stop, wait_until
from tests.conftest import ROOT
from tests.integration.conftest import database_url

pytestmark = pytest.mark.integration


def procfile(process):
    return re.search(rf"^{process}: (.*)$", (ROOT / "Procfile").read_text(), re.M).group(1)


@pytest.fixture
def production_env(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gradefreeze.settings",
        "DATABASE_URL": database_url(),
        "GRADEFREEZE_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "a-production-like-secret-key-that-is-long-enough-for-check-deploy-0123",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    }
    env.pop("DEBUG", None)
    return env


def test_gunicorn_serves_the_pages_and_whitenoise_the_static_files(production_env):
    collect = procfile("release").split("&&")[1].split()
    collected = subprocess.run(
        [sys.executable, *collect[1:]],
        cwd=ROOT,
        env=production_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    web = procfile("web").replace("${PORT:-8000}", str(port)).replace("${WEB_CONCURRENCY:-3}", "2")
    gunicorn = subprocess.Popen([sys.executable, "-m", *web.split()], cwd=ROOT, env=production_env)
    base = f"http://127.0.0.1:{port}"
    https = {"X-Forwarded-Proto": "https"}  # TLS ends at the proxy in front

    def answering():
        try:
            return requests.get(f"{base}/admin/login/", headers=https, timeout=10).ok
        except requests.RequestException:  # not listening yet, or its workers still booting
            return False

    try:
        wait_until(answering, 60, "gunicorn to answer", gunicorn)
        login = requests.get(f"{base}/admin/login/", headers=https, timeout=5)
        assert "Log in" in login.text
        ops = requests.get(f"{base}/ops/", headers=https, timeout=5, allow_redirects=False)
        assert ops.status_code == 302
        assert ops.headers["Location"].startswith("/admin/login/?next=/ops/")
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', login.text)
        assert stylesheet, "the admin's stylesheet under its hashed name"
        css = requests.get(base + stylesheet.group(1), headers=https, timeout=5)
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert "max-age=315360000" in css.headers["Cache-Control"]  # hashed: cached forever
        site = requests.get(f"{base}/static/gradefreeze/site.css", headers=https, timeout=5)
        assert site.status_code == 200
        assert "--frozen" in site.text
        plain = requests.get(f"{base}/admin/login/", timeout=5, allow_redirects=False)
        assert plain.status_code == 301  # plain HTTP goes to HTTPS
    finally:
        stop(gunicorn)
