"""gradefreeze.bulk_writes: many rows in one statement, on SQLite and PostgreSQL."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from social_django.models import UserSocialAuth

from gradefreeze import bulk_writes
from gradefreeze.bulk_writes import update_rows

pytestmark = pytest.mark.django_db


def link(name: str) -> UserSocialAuth:
    user = User.objects.create(username=name)
    return UserSocialAuth.objects.create(
        user=user, provider="edxorg", uid=name, extra_data={"refresh_token": f"rt-{name}-0"}
    )


def test_update_rows_updates_the_rows_given_in_one_statement_and_no_other():
    first, second, untouched = link("ada"), link("bob"), link("cy")
    later = timezone.now() + timezone.timedelta(hours=1)
    rows = [
        {"id": first.pk, "extra_data": {"refresh_token": "rt-ada-1"}, "modified": later},
        {
            "id": second.pk,
            "extra_data": {"refresh_token": "rt-bob-1", "n": None},
            "modified": later,
        },
    ]
    with CaptureQueriesContext(connection) as queries:
        assert update_rows(UserSocialAuth, rows) == 2
    assert len(queries) == 1
    stored = {row.uid: row for row in UserSocialAuth.objects.all()}
    assert stored["ada"].extra_data == {"refresh_token": "rt-ada-1"}
    assert stored["bob"].extra_data == {"refresh_token": "rt-bob-1", "n": None}
    assert stored["ada"].modified == later
    assert stored["cy"].extra_data == {"refresh_token": "rt-cy-0"}
    assert stored["cy"].modified == untouched.modified


def test_update_rows_of_nothing_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert update_rows(UserSocialAuth, []) == 0
    assert queries.captured_queries == []


def test_insert_rows_past_one_statement_writes_every_row_and_returns_each(monkeypatch):
    """PostgreSQL refuses a JSON document past 256 MB: rows go ROWS_PER_STATEMENT a
    statement, and RETURNING gives back every row written."""
    monkeypatch.setattr(bulk_writes, "ROWS_PER_STATEMENT", 2)
    users = [User.objects.create(username=f"u{n}") for n in range(5)]
    now = timezone.now()
    rows = [
        {
            "user": user.pk,
            "provider": "edxorg",
            "uid": user.username,
            "extra_data": {},
            "id_key": "username",
            "created": now,
            "modified": now,
        }
        for user in users
    ]
    with CaptureQueriesContext(connection) as queries:
        written = bulk_writes.insert_rows(UserSocialAuth, rows, returning=("uid",))
    assert len(queries) == 3
    assert sorted(uid for (uid,) in written) == [user.username for user in users]
    assert UserSocialAuth.objects.count() == 5
