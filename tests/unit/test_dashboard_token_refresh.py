"""dashboard.token_refresh: every new token pair is committed before it is used, and a
refresh token is never spent twice, with many grants in flight at once."""

import signal
import threading

import pytest
import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.utils import timezone
from social_django.models import UserSocialAuth

from dashboard.token_refresh import edx_links, refresh_tokens
from demo.api import seed_course_run, seed_learners
from sandbox.dataset import generate

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "course-v1:MITx+Tokens+1T2026"


@pytest.fixture
def dataset():
    seed_course_run(KEY, timezone.now())
    data = generate(learners=6, course_keys=(KEY,), revoked=0)
    seed_learners(data)
    return data


def all_links():
    return edx_links(user for user in (link.user for link in UserSocialAuth.objects.all()))


def stored_tokens(pk):
    """A link's tokens as committed, read on a connection of this thread's own."""
    try:
        return UserSocialAuth.objects.get(pk=pk).extra_data["refresh_token"]
    finally:
        connection.close()


def sandbox_tokens(sandbox, username):
    answer = requests.get(f"{sandbox.base_url}/_sandbox/learners/{username}", timeout=5)
    return answer.json()["refresh_token"]


def test_each_new_pair_is_committed_before_the_reads_that_use_it(dataset, start_sandbox, settings):
    settings.FREEZE_LEARNER_CONCURRENCY = 3
    start_sandbox(dataset, latency_ms=20)
    seen = {}

    def read(link):
        seen[link.uid] = (link.extra_data["refresh_token"], stored_tokens(link.pk))
        return link.uid

    _, errors, outcomes = refresh_tokens(all_links(), then=read)
    assert errors == {}
    assert sorted(outcomes.values()) == sorted(dataset["learners"])
    assert all(in_hand == committed for in_hand, committed in seen.values()), seen
    assert all(not token.endswith("-0") for token, _ in seen.values()), "not refreshed"


def test_a_learner_refreshed_by_two_workers_at_once_is_granted_once(
    dataset, start_sandbox, settings
):
    settings.FREEZE_LEARNER_CONCURRENCY = 1
    sandbox = start_sandbox(dataset, latency_ms=300)
    link = UserSocialAuth.objects.first()
    results = []

    def worker():
        try:
            results.append(refresh_tokens(edx_links([link.user]))[:2])
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)
    assert [errors for _, errors in results] == [{}, {}]
    tokens = {fresh[link.user_id].extra_data["refresh_token"] for fresh, _ in results}
    assert tokens == {sandbox_tokens(sandbox, link.uid)}
    assert sandbox.stats()["requests"]["token"] == 1


def test_a_refresh_inside_a_transaction_is_refused_before_any_grant(dataset, start_sandbox):
    sandbox = start_sandbox(dataset)
    with pytest.raises(RuntimeError), transaction.atomic():
        refresh_tokens(all_links())
    assert sandbox.stats()["requests"].get("token", 0) == 0


def test_an_interrupted_refresh_sends_no_more_grants_and_keeps_every_pair_it_got(
    dataset, start_sandbox, settings
):
    """Celery's soft time limit is an exception raised by a signal handler in the thread
    that holds the locks, whatever it is doing: here, while grants are in flight."""
    settings.FREEZE_LEARNER_CONCURRENCY = 2
    sandbox = start_sandbox(dataset, latency_ms=200)

    def soft_time_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_time_limit)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            refresh_tokens(all_links(), then=lambda link: link.uid)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    granted = sandbox.stats()["requests"]["token"]
    assert 0 < granted < len(dataset["learners"]), "the interruption landed mid-refresh"
    lost = [
        link.uid
        for link in UserSocialAuth.objects.all()
        if link.extra_data["refresh_token"] != sandbox_tokens(sandbox, link.uid)
    ]
    assert lost == []
    print(f"interrupted after {granted} grants of {len(dataset['learners'])}; none lost")
