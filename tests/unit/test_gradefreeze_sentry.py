"""With SENTRY_DSN set, a bug inside a chunk reaches Sentry once per chunk, grouped by its
message template, tagged with the course run and stage, without a secret in it.

The SDK sends real envelopes over HTTP to a local server standing in for Sentry.
"""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from django.core.management import call_command
from django.utils import timezone

from demo.api import seed_course_run, seed_learners
from gradefreeze.redaction import sentry_options
from grades import chunks
from grades.models import FreezeFailure
from sandbox.dataset import generate

KEY = "course-v1:MITx+Sentry+1T2026"


class Envelopes(BaseHTTPRequestHandler):
    """Keeps the body of every envelope the SDK posts."""

    received: list[bytes]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def events_of(envelopes):
    """The event items of envelopes (newline-delimited JSON: header, then item header and
    payload pairs)."""
    events = []
    for body in envelopes:
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


@pytest.fixture
def sentry_server():
    """A local stand-in for Sentry; sentry-sdk is started with the project's options."""
    handler = type("Handler", (Envelopes,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sentry_sdk.init(dsn=f"http://public@127.0.0.1:{server.server_port}/1", **sentry_options())
    yield handler.received
    sentry_sdk.init()
    server.shutdown()


@pytest.fixture
def broken_policy(monkeypatch):
    """A bug in the grading policy whose message carries a learner's refresh token."""

    def compute_final_grade(*args):
        raise RuntimeError("policy bug for refresh_token=rt-learner00001-0")

    monkeypatch.setattr(chunks, "compute_final_grade", compute_final_grade)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_tasks", "broken_policy")
def test_a_bug_in_chunks_reaches_sentry_once_per_chunk_grouped_and_tagged(
    sentry_server, start_sandbox, settings
):
    settings.FREEZE_CHUNK_SIZE = 3
    seed_course_run(KEY, timezone.now() - timezone.timedelta(days=1))
    dataset = generate(learners=6, course_keys=(KEY,), revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)

    call_command("freeze_final_grades", KEY)
    sentry_sdk.flush(timeout=10)

    assert FreezeFailure.objects.filter(stage="unexpected").count() == 6
    events = events_of(sentry_server)
    assert len(events) == 2  # two chunks of three learners: not one event per learner
    assert {tuple(event["fingerprint"]) for event in events} == {
        ("gradefreeze", "unexpected failure at %s of %d learner(s) in a chunk of %s: %s")
    }
    assert all(event["tags"]["course_run"] == KEY for event in events)
    assert all(event["tags"]["stage"] == "computation" for event in events)
    sent = b"".join(sentry_server).decode()
    assert "RuntimeError" in sent
    assert "rt-learner00001-0" not in sent
    assert "at-learner0000" not in sent
