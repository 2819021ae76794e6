"""The operators' pages in a real browser (Debian's Chromium), against a live server, a
real Celery worker and the sandbox LMS: what a staff user does, and what nobody else can.
"""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from demo.api import seed_course_run
from grades.models import FinalGrade, FinalGradeAudit, FreezeAction
from tests.browser.conftest import screenshot
from tests.factories import UserFactory
from tests.integration.conftest import (
    _real_services_only,
    demo_run,
    seeded,
    start_worker,
    worker_queue,
)

pytestmark = pytest.mark.integration

PASSWORD = "a-staff-password-1"
LEARNERS = 24


@pytest.fixture
def staff_user():
    user = UserFactory(username="opsadmin", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="freeze_final_grades"))
    return user


def confirm(page, button):
    """Click an action's button, see its confirmation page, confirm."""
    page.click(f"a.button:text-is('{button}')")
    page.wait_for_selector("form button[name=confirm]")
    return page


def test_a_staff_user_freezes_watches_retries_downloads_reverts_and_restores(
    page, sign_in, staff_user, seeded, start_sandbox, start_worker, demo_run, live_server
):
    dataset = seeded(learners=LEARNERS)
    dataset["learners"]["learner00002"]["faults"] = {"certificates": {"status": 500}}
    sandbox = start_sandbox(dataset, latency_ms=60)
    start_worker(sandbox, FREEZE_CHUNK_SIZE=4, FREEZE_LEARNER_CONCURRENCY=1, EDX_RETRIES=0)
    seed_course_run("course-v1:MITx+Later+1T2031", timezone.now() + timezone.timedelta(days=90))

    sign_in(page, "opsadmin", PASSWORD)
    page.wait_for_selector("text=Course runs")
    screenshot(page, "01-course-runs-not-started")

    page.click(f"text={demo_run.edx_course_key}")
    confirm(page, "Freeze")
    screenshot(page, "02-confirm-freeze")
    page.click("form button[name=confirm]")
    page.wait_for_selector(".message >> text=Started the freeze")
    page.evaluate("window.notReloaded = true")
    page.wait_for_selector("#progress .state.processing", timeout=30_000)
    screenshot(page, "03-run-freezing")
    page.wait_for_selector("#progress .state.complete", timeout=90_000)
    assert page.evaluate("window.notReloaded") is True  # the bar moved without a reload
    assert page.inner_text("#progress [data-field=frozen]") == str(LEARNERS - 1)
    page.wait_for_selector("#details >> text=cache_refresh: http_error (HTTP 500)")
    screenshot(page, "04-run-complete-with-a-failure")

    page.click("#details >> text=learner00002")
    page.wait_for_selector("text=Cached edX data")
    assert "cache_refresh: http_error (HTTP 500)" in page.inner_text(".diagnosis")
    screenshot(page, "05-learner-diagnosis")
    page.go_back()

    sandbox.clear_faults()
    confirm(page, "Retry failed learners")
    page.click("form button[name=confirm]")
    page.wait_for_selector(".message >> text=Retrying 1 failed learners")
    page.wait_for_selector(f"#progress [data-field=frozen] >> text={LEARNERS}", timeout=60_000)
    page.wait_for_selector("#progress .state.complete", timeout=30_000)
    page.wait_for_selector("#details >> text=No learner is recorded as failed.")

    with page.expect_download() as download:
        page.click("text=Download final grades (CSV)")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == LEARNERS
    assert {row["username"] for row in rows} == set(dataset["learners"])
    frozen = list(FinalGrade.objects.order_by("pk").values())

    confirm(page, "Revert")
    assert f"This deletes {LEARNERS} final grades" in page.inner_text(".card")
    screenshot(page, "06-confirm-revert")
    page.click("form button[name=confirm]")
    page.wait_for_selector(f".message >> text=Reverted {LEARNERS} final grades")
    page.wait_for_selector("#progress .state.not_started")
    assert not FinalGrade.objects.exists()
    screenshot(page, "07-run-reverted")

    confirm(page, "Restore")
    page.click("form button[name=confirm]")
    page.wait_for_selector(".message >> text=Restored revert")
    page.wait_for_selector("#progress .state.complete")
    screenshot(page, "08-run-restored")
    assert list(FinalGrade.objects.order_by("pk").values()) == frozen

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    screenshot(page, "10-api-docs")

    assert list(FreezeAction.objects.order_by("pk").values_list("action", "actor")) == [
        (action, "staff opsadmin") for action in ("freeze", "retry", "revert", "restore")
    ]
    assert set(
        FinalGradeAudit.objects.filter(action__in=["deleted", "restored"]).values_list(
            "action", "actor"
        )
    ) == {("deleted", "staff opsadmin"), ("restored", "staff opsadmin")}


OPS_PAGES = [
    "/ops/",
    "/ops/progress.json",
    "/ops/runs/{run}/",
    "/ops/runs/{run}/status.json",
    "/ops/runs/{run}/final-grades.csv",
    "/ops/runs/{run}/learners/learner00001/",
    "/ops/runs/{run}/freeze/",
    "/ops/runs/{run}/revert/",
    "/ops/reverts/1/restore/",
    "/api/course-runs/",
    "/api/docs/",
    "/api/schema/",
]
OPS_ACTIONS = [
    "/ops/runs/{run}/freeze/",
    "/ops/runs/{run}/retry/",
    "/ops/runs/{run}/complete/",
    "/ops/runs/{run}/revert/",
    "/ops/reverts/1/restore/",
    "/api/course-runs/{run}/freeze/",
    "/api/course-runs/{run}/revert/",
    "/api/reverts/1/restore/",
]


def test_a_signed_in_user_without_staff_status_is_refused_every_page_and_action(
    page, signed_in_as, live_server, demo_run
):
    FinalGrade.objects.create(
        user=UserFactory(username="learner00001"),
        course_run=demo_run,
        grade=0.5,
        passed=True,
        paid=False,
    )
    learner = UserFactory(username="learner00002")
    signed_in_as(page, learner)
    for path in OPS_PAGES:
        answer = page.request.get(live_server.url + path.format(run=demo_run.pk))
        assert answer.status == 403, path
    page.goto(f"{live_server.url}/ops/runs/{demo_run.pk}/")
    screenshot(page, "09-non-staff-refused")
    page.goto(live_server.url + "/admin/login/")  # its form sets the CSRF cookie
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for path in OPS_ACTIONS:
        answer = page.request.post(
            live_server.url + path.format(run=demo_run.pk),
            headers={"X-CSRFToken": token, "Referer": live_server.url + "/ops/"},
        )
        assert answer.status == 403, path
    assert FinalGrade.objects.count() == 1
    assert not FreezeAction.objects.exists()


def test_an_anonymous_visitor_is_sent_to_the_staff_login(page, live_server, demo_run):
    page.goto(f"{live_server.url}/ops/runs/{demo_run.pk}/")
    assert page.url.startswith(f"{live_server.url}/admin/login/?next=/ops/runs/")
