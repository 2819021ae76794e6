"""The LMS's records: learners with their enrollments, grades and certificates.

Everything a request needs is one dict lookup or one bisection away. Each course run keeps
its enrollments in enrollment-id order (edX's grade listing pages by CourseEnrollment.id)
and, built when first asked for, in newest-created order (the enrollment listing's
CursorPagination ordering). Learner records are never modified in place: the dataset a
caller passed in stays as it was.
"""

import math
from bisect import insort
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count

from sandbox.dataset import DEFAULT_PASSWORD, learner_course_ids, record_course_id
from sandbox.pagination import OrderedRows

# CourseGradeFactory.read creates a zero grade for a learner who never started.
_ZERO_GRADE = {"passed": False, "percent": 0.0, "letter_grade": None}
_AUDIT_STATUSES = frozenset({"audit_passing", "audit_notpassing"})  # EligibleCertificateManager
DEFAULT_DATE_JOINED = "2014-10-01T00:00:00Z"


@dataclass(slots=True, eq=False)
class EnrollmentRow:
    """One CourseEnrollment: its id, owner, run, record and ordering keys."""

    id: int
    username: str
    course_id: str
    record: dict
    created_key: float  # minus the creation time: ascending keys put the newest first
    created_position: str  # the creation time as DRF's cursor writes it
    listed_grade: dict | None = None  # the grade listing's answer, built once


class Lms:
    """Learners, course runs and their records, for one sandbox."""

    def __init__(self, dataset: dict) -> None:
        self.course_runs: dict[str, None] = dict.fromkeys(dataset["course_runs"])
        self.certificates_unconfigured = set(dataset.get("certificates_unconfigured", ()))
        self._learners: dict[str, dict] = {}
        self._by_email: dict[str, str] = {}
        self._account_ids: dict[str, int] = {}
        self._enrollment_ids: dict[tuple[str, str], int] = {}
        self._rows: dict[str, list[EnrollmentRow]] = {c: [] for c in self.course_runs}
        self._rows_of: dict[str, list[EnrollmentRow]] = {}
        self._next_enrollment = count(1)
        self._next_account = count(1)
        self._by_created: dict[str | None, OrderedRows] = {}
        self._active: dict[str, OrderedRows] = {}
        for username, learner in dataset["learners"].items():
            self._index(username, learner)

    # --- learners --------------------------------------------------------------------

    def learner(self, username: str) -> dict | None:
        return self._learners.get(username)

    def learners(self):
        return self._learners.keys()

    def signed_in(self, login: str, password: str) -> str | None:
        """The learner whose username or email and password these are (edX's
        EdxOAuth2Validator._authenticate accepts either), or None."""
        username = login if login in self._learners else self._by_email.get(login)
        if username is None:
            return None
        return (
            username
            if self._learners[username].get("password", DEFAULT_PASSWORD) == password
            else None
        )

    def account(self, username: str) -> dict:
        """The fields of edX's account serializer the sandbox knows (others null)."""
        learner = self._learners[username]
        return {
            "username": username,
            "email": learner["email"],
            "id": self._account_ids[username],
            "name": learner.get("name", ""),
            "date_joined": learner.get("date_joined", DEFAULT_DATE_JOINED),
            "is_active": True,
        }

    # --- enrollments -----------------------------------------------------------------

    def active_enrollments_of(self, username: str) -> list[dict]:
        """GET /api/enrollment/v1/enrollment: get_enrollments(include_inactive=False)."""
        return [
            {key: e.get(key) for key in ("created", "mode", "is_active", "course_details", "user")}
            for e in self._learners[username]["enrollments"]
            if e["is_active"]
        ]

    def enrollment(self, username: str, course_id: str) -> EnrollmentRow | None:
        for row in self._rows_of.get(username, ()):
            if row.course_id == course_id:
                return row
        return None

    def listed_enrollments(self, course_id: str | None, usernames: list[str]) -> OrderedRows:
        """CourseEnrollmentsApiListView's queryset, newest created first (CursorPagination's
        default ordering "-created"), active or not."""
        if usernames:
            rows = [
                row
                for username in dict.fromkeys(usernames)
                for row in self._rows_of.get(username, ())
                if course_id is None or row.course_id == course_id
            ]
            return _by_created(rows)
        if course_id not in self._by_created:
            if course_id is None:
                rows = [row for rows in self._rows.values() for row in rows]
            else:
                rows = self._rows.get(course_id, [])
            self._by_created[course_id] = _by_created(rows)
        return self._by_created[course_id]

    # --- grades ----------------------------------------------------------------------

    def active_enrollments_in(self, course_id: str) -> OrderedRows:
        """The grade listing's enrollments: active ones, by enrollment id (edX's
        CourseEnrollmentPagination)."""
        if course_id not in self._active:
            rows = [row for row in self._rows.get(course_id, []) if row.record["is_active"]]
            self._active[course_id] = OrderedRows(
                rows, [row.id for row in rows], _id_position, _id_key
            )
        return self._active[course_id]

    def listed_grade(self, row: EnrollmentRow) -> dict:
        """A row of the grade listing, where a masters-track learner's email shows."""
        if row.listed_grade is None:
            row.listed_grade = self._grade(
                row.username, row.course_id, row.record["mode"] == "masters"
            )
        return row.listed_grade

    def own_grade(self, username: str, course_id: str) -> dict:
        """The `?username=` answer: the learner is looked up without their enrollment mode,
        so the email is always empty (GradeViewMixin._get_single_user)."""
        return self._grade(username, course_id, False)

    def _grade(self, username: str, course_id: str, show_email: bool) -> dict:
        learner = self._learners[username]
        record = _find(learner["grades"], course_id) or _ZERO_GRADE
        return {
            "username": username,
            "email": learner["email"] if show_email else "",
            "course_id": course_id,
            "passed": record["passed"],
            "percent": record["percent"],
            "letter_grade": record["letter_grade"],
        }

    # --- certificates ----------------------------------------------------------------

    def certificate(self, username: str, course_id: str) -> dict | None:
        """The learner's eligible certificate: audit ones are not (EligibleCertificateManager)."""
        learner = self._learners.get(username)
        record = _find(learner["certificates"], course_id) if learner else None
        if record is None or record["status"] in _AUDIT_STATUSES:
            return None
        return record

    # --- run-time changes ------------------------------------------------------------

    def put_learner(self, username: str, learner: dict) -> bool:
        """Create or replace a learner (already validated); True if it is new. A replaced
        enrollment keeps its id, as a real CourseEnrollment row would."""
        created = username not in self._learners
        if not created:
            self._unindex(username)
        self._index(username, learner)
        return created

    def _index(self, username: str, learner: dict) -> None:
        self._learners[username] = learner
        self._by_email.setdefault(learner["email"], username)
        self._account_ids.setdefault(username, next(self._next_account))
        for course_id in learner_course_ids(learner):
            self.course_runs.setdefault(course_id)
            self._rows.setdefault(course_id, [])
        rows = []
        for enrollment in learner["enrollments"]:
            course_id = record_course_id(enrollment)
            key = (username, course_id)
            if key not in self._enrollment_ids:
                self._enrollment_ids[key] = next(self._next_enrollment)
            created_key, position = _created_order(enrollment["created"])
            row = EnrollmentRow(
                self._enrollment_ids[key], username, course_id, enrollment, created_key, position
            )
            course_rows = self._rows[course_id]
            if course_rows and course_rows[-1].id > row.id:
                insort(course_rows, row, key=_row_id)
            else:
                course_rows.append(row)
            rows.append(row)
        self._rows_of[username] = rows
        self._by_created.clear()
        self._active.clear()

    def _unindex(self, username: str) -> None:
        learner = self._learners.pop(username)
        if self._by_email.get(learner["email"]) == username:
            del self._by_email[learner["email"]]
        for row in self._rows_of.pop(username, ()):
            self._rows[row.course_id] = [r for r in self._rows[row.course_id] if r is not row]


def _find(records: list[dict], course_id: str) -> dict | None:
    """A learner's record for one course run (a learner has a handful, so a scan is fine)."""
    for record in records:
        if record["course_id"] == course_id:
            return record
    return None


def _row_id(row: EnrollmentRow) -> int:
    return row.id


def _id_position(row: EnrollmentRow) -> str:
    return str(row.id)


def _id_key(position: str) -> float:
    return int(position)


def _created_position(row: EnrollmentRow) -> str:
    return row.created_position


def _by_created(rows: list[EnrollmentRow]) -> OrderedRows:
    ordered = sorted(rows, key=lambda row: (row.created_key, row.id))
    return OrderedRows(
        ordered, [row.created_key for row in ordered], _created_position, _created_key
    )


def _created_order(created: str | None) -> tuple[float, str]:
    """(minus the time, its text as str(datetime)); a missing or unreadable time is oldest."""
    if created is None:
        return math.inf, "None"
    try:
        return _created_key(created), str(_moment(created))
    except ValueError:
        return math.inf, created


def _created_key(position: str) -> float:
    return math.inf if position == "None" else -_moment(position).timestamp()


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
