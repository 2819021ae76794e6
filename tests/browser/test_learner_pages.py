"""The learner site in a real browser (Debian's Chromium), against a live server, a real
Celery worker and the sandbox LMS: a learner signs in with edX and sees their final grade."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from bench.processes import wait_until
from dashboard.models import CachedEnrollment
from demo.api import seed_learners
from grades import api
from grades.models import FinalGrade, FinalGradeAudit
from grades.tasks import send_chunks
from sandbox.dataset import generate
from tests.browser.conftest import screenshot
from tests.conftest import expected_final_grade
from tests.integration.conftest import (
    COURSE_KEY,
    _real_services_only,
    demo_run,
    start_worker,
    wait_for_state,
    worker_queue,
)
from tests.signin_flow import platform_url

pytestmark = pytest.mark.integration

PHONE = {"width": 390, "height": 844}


def freeze(course_run):
    api.start_freeze(course_run, lambda run: api.freeze_course_run(run, send_chunks))
    return wait_for_state(course_run, api.FreezeState.COMPLETE)


def shown_percent(final_grade):
    return f"{final_grade.grade * 100:.1f}%"


def sign_in_on_the_lms(page, username, password="edx", shot=None):
    page.wait_for_selector("text=Username or email")
    page.fill("#username", username)
    page.fill("#password", password)
    if shot:
        screenshot(page, shot)
    page.click("button[type=submit]")


def signed_in_on(page, site, user):
    """A session of the platform for `user`, its cookie set for the site's host."""
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    page.context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": site}])


def test_a_new_learner_signs_in_with_edx_and_sees_their_frozen_grade(
    page, live_server, start_sandbox, start_worker, demo_run
):
    dataset = generate(learners=6, course_keys=(COURSE_KEY,), revoked=0)
    newcomer = dataset["learners"]["learner00001"]
    # A learner new to the platform holds no token of its client: edX asks for consent.
    newcomer["revoked"] = True
    others = {name: v for name, v in dataset["learners"].items() if v is not newcomer}
    seed_learners({**dataset, "learners": others})
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    site = platform_url(live_server)

    page.goto(f"{site}/")
    assert page.locator("h1").inner_text() == "Your final course grades, kept for good"
    screenshot(page, "learner-01-home")
    page.click("button:text-is('Sign in with edX')")
    sign_in_on_the_lms(page, "learner00001", shot="learner-02-lms-sign-in")
    page.wait_for_selector("text=would like to:")
    screenshot(page, "learner-03-lms-consent")
    page.click("button[name=allow]")

    page.wait_for_selector("h1:text-is('My final grades')")
    assert page.url == f"{site}/grades/"
    learner = User.objects.get(username="learner00001")
    assert learner.social_auth.get().uid == "learner00001"
    wait_until(
        lambda: CachedEnrollment.objects.filter(user=learner).exists(),
        60,
        "the sign-in's refresh of the learner's edX data",
    )
    page.reload()
    run_card = page.locator(f"[data-course-key='{COURSE_KEY}']")
    assert "Not frozen yet" in run_card.inner_text()
    screenshot(page, "learner-04-grades-not-frozen-yet")

    assert freeze(demo_run).frozen == 6
    page.reload()
    final_grade = FinalGrade.objects.get(user=learner, course_run=demo_run)
    expected = expected_final_grade(newcomer, COURSE_KEY)
    assert (round(final_grade.grade, 6), final_grade.passed, final_grade.paid) == expected
    assert run_card.locator(".grade").inner_text() == shown_percent(final_grade)
    assert run_card.locator(".passed").inner_text() == ("Yes" if final_grade.passed else "No")
    screenshot(page, "learner-05-grades-frozen")

    page.click("button:text-is('Sign out')")
    page.wait_for_selector("button:text-is('Sign in with edX')")
    page.goto(f"{site}/grades/")
    assert page.url == f"{site}/?next=/grades/"


def test_a_learner_who_denies_consent_sees_why_and_is_not_linked(
    page, live_server, start_sandbox, demo_run, worker_queue
):
    dataset = generate(learners=2, course_keys=(COURSE_KEY,), revoked=0)
    dataset["learners"]["learner00002"]["revoked"] = True
    start_sandbox(dataset)

    page.goto(f"{platform_url(live_server)}/")
    page.click("button:text-is('Sign in with edX')")
    sign_in_on_the_lms(page, "learner00002")
    page.click("button:text-is('Cancel')")

    page.wait_for_selector("h1:text-is('Sign-in with edX did not work')")
    assert "You did not allow gradefreeze to use your edX account" in page.inner_text("main")
    screenshot(page, "learner-06-consent-denied")
    assert not User.objects.filter(username="learner00002").exists()


def test_a_learner_whose_tokens_were_revoked_links_again_from_the_button_and_is_frozen(
    page, live_server, start_sandbox, start_worker, demo_run
):
    dataset = generate(learners=5, course_keys=(COURSE_KEY,), revoked=0)
    seed_learners(dataset)
    dataset["learners"]["learner00003"]["revoked"] = True
    sandbox = start_sandbox(dataset)
    start_worker(sandbox)
    status = freeze(demo_run)
    assert (status.frozen, status.failed) == (4, 1)
    site = platform_url(live_server)
    learner = User.objects.get(username="learner00003")
    signed_in_on(page, site, learner)  # signed in on the platform since before the revoke

    page.goto(f"{site}/grades/")
    page.click("button:text-is('Link your edX account again')")
    sign_in_on_the_lms(page, "learner00003")
    page.click("button[name=allow]")
    page.wait_for_selector("h1:text-is('My final grades')")
    wait_until(
        lambda: FinalGrade.objects.filter(user=learner, course_run=demo_run).exists(),
        60,
        "the sign-in to freeze the learner's failed grade",
    )
    page.reload()
    final_grade = FinalGrade.objects.get(user=learner, course_run=demo_run)
    run_card = page.locator(f"[data-course-key='{COURSE_KEY}']")
    assert run_card.locator(".grade").inner_text() == shown_percent(final_grade)
    assert page.locator("text=Link your edX account again").count() == 0
    screenshot(page, "learner-08-relinked-and-frozen")
    audit = FinalGradeAudit.objects.get(user_id=learner.pk, course_run_id=demo_run.pk)
    assert audit.actor == "sign-in of learner00003"
    status = api.freeze_status(demo_run)
    assert (status.frozen, status.failed) == (5, 0)


def test_a_learner_whose_tokens_edx_refused_is_shown_the_button_to_link_again(
    page, live_server, start_sandbox, start_worker, demo_run, signed_in_as
):
    dataset = generate(learners=3, course_keys=(COURSE_KEY,), revoked=0)
    seed_learners(dataset)
    dataset["learners"]["learner00002"]["revoked"] = True
    start_worker(start_sandbox(dataset))
    freeze(demo_run)
    signed_in_as(page, User.objects.get(username="learner00002"))

    page.goto(f"{live_server.url}/grades/")  # the session's cookie is for its host

    page.wait_for_selector("[role=alert] >> text=Link your edX account again")
    assert "Not frozen yet" in page.inner_text(f"[data-course-key='{COURSE_KEY}']")
    screenshot(page, "learner-07-link-again")


def test_a_learner_sees_only_their_own_grades(
    page, live_server, start_sandbox, start_worker, demo_run
):
    dataset = generate(learners=3, course_keys=(COURSE_KEY,), revoked=0)
    seed_learners(dataset)
    start_worker(start_sandbox(dataset))
    freeze(demo_run)
    mine = FinalGrade.objects.get(user__username="learner00001")
    site = platform_url(live_server)

    page.goto(f"{site}/")
    page.click("button:text-is('Sign in with edX')")
    sign_in_on_the_lms(page, "learner00001")
    page.wait_for_selector("h1:text-is('My final grades')")

    cards = page.locator(".my-run")
    assert cards.count() == 1
    assert cards.locator(".grade").inner_text() == shown_percent(mine)
    assert "learner00002" not in page.content() and "learner00003" not in page.content()
    page.goto(f"{site}/grades/?user=learner00002")
    assert page.locator(".my-run .grade").inner_text() == shown_percent(mine)
    theirs = FinalGrade.objects.get(user__username="learner00002")
    answer = page.goto(f"{site}/ops/runs/{demo_run.pk}/learners/learner00002/")
    assert answer.status == 403
    assert shown_percent(theirs) not in page.content() or theirs.grade == mine.grade
    screenshot(page, "learner-09-other-learner-refused")


def test_the_learner_pages_fit_a_phone(browser, live_server, start_sandbox, start_worker, demo_run):
    dataset = generate(learners=2, course_keys=(COURSE_KEY,), revoked=0)
    seed_learners(dataset)
    start_worker(start_sandbox(dataset))
    freeze(demo_run)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    site = platform_url(live_server)

    page.goto(f"{site}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "learner-10-phone-home")
    page.click("button:text-is('Sign in with edX')")
    sign_in_on_the_lms(page, "learner00001")
    page.wait_for_selector("h1:text-is('My final grades')")
    screenshot(page, "learner-11-phone-grades")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
