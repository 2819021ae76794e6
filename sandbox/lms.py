"""The LMS's memory: learners, their records, and the tokens that currently open them.

Everything a request needs is one dict lookup away (learner by username, principal by
access token, learner by refresh token), and each course run keeps its enrollments and
grades as lists so pages are slices. Learner records are never modified in place: tokens
live here, so the dataset a caller passed in stays as it was.
"""

import random
from dataclasses import dataclass
from itertools import count

from sandbox.dataset import learner_course_ids, record_course_id

ACCESS_TOKEN_LIFETIME_S = 36000


@dataclass(frozen=True)
class Principal:
    """Who an access token speaks for: one learner, or an OAuth client (maybe staff)."""

    username: str | None = None
    client_id: str | None = None
    staff: bool = False


class LearnerConflict(ValueError):
    """A learner change that would break the sandbox (a token already someone else's)."""


class Lms:
    """Learners, course runs and OAuth grants of one sandbox."""

    def __init__(self, dataset: dict, seed: int | None = None) -> None:
        self.course_runs: dict[str, None] = dict.fromkeys(dataset["course_runs"])
        self.clients = {client["client_id"]: client for client in dataset["clients"]}
        self._learners: dict[str, dict] = {}
        self._access: dict[str, Principal] = {}
        self._refresh: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, str]] = {}
        self._course_enrollments: dict[str, list[dict]] = {c: [] for c in self.course_runs}
        self._course_grades: dict[str, list[dict]] = {c: [] for c in self.course_runs}
        self._all_enrollments: list[dict] | None = None
        self._serial = count(1)
        self._token_rng = random.Random(seed)
        for username, learner in dataset["learners"].items():
            self._index(username, learner)
            self._grant(username, learner["access_token"], learner["refresh_token"])

    def learner(self, username: str) -> dict | None:
        return self._learners.get(username)

    def is_revoked(self, username: str) -> bool:
        learner = self._learners.get(username)
        return learner is not None and learner["revoked"]

    def tokens_of(self, username: str) -> tuple[str, str]:
        """The learner's current (access token, refresh token)."""
        return self._tokens[username]

    # --- OAuth ---------------------------------------------------------------------------

    def principal(self, access_token: str) -> Principal | None:
        return self._access.get(access_token)

    def refresh_token_owner(self, refresh_token: str) -> str | None:
        return self._refresh.get(refresh_token)

    def redeem(self, refresh_token: str) -> dict | None:
        """Swap a current refresh token for a new token pair; the old pair stops working.

        None when the refresh token is no longer current (already redeemed, or replaced).
        """
        username = self._refresh.get(refresh_token)
        if username is None:
            return None
        access, refresh = self._new_token("at", username), self._new_token("rt", username)
        self._grant(username, access, refresh)
        return _token_answer(access, refresh)

    def issue_service_token(self, client: dict) -> dict:
        """An access token for the OAuth client itself (client credentials grant)."""
        access = self._new_token("st", client["client_id"])
        self._access[access] = Principal(
            client_id=client["client_id"], staff=client.get("staff", False)
        )
        return _token_answer(access)

    def _grant(self, username: str, access: str, refresh: str) -> None:
        old = self._tokens.get(username)
        if old is not None:
            self._access.pop(old[0], None)
            self._refresh.pop(old[1], None)
        self._access[access] = Principal(username=username)
        self._refresh[refresh] = username
        self._tokens[username] = (access, refresh)

    def _new_token(self, kind: str, owner: str) -> str:
        return f"{kind}-{owner}-{next(self._serial)}-{self._token_rng.getrandbits(48):012x}"

    # --- records -------------------------------------------------------------------------

    def enrollments_of(self, username: str) -> list[dict]:
        return self._learners[username]["enrollments"]

    def course_enrollments(self, course_id: str) -> list[dict]:
        return self._course_enrollments.get(course_id, [])

    def all_enrollments(self) -> list[dict]:
        """Every enrollment of every course run (built once, until a learner changes)."""
        if self._all_enrollments is None:
            self._all_enrollments = [
                e for enrollments in self._course_enrollments.values() for e in enrollments
            ]
        return self._all_enrollments

    def course_grades(self, course_id: str) -> list[dict]:
        return self._course_grades.get(course_id, [])

    def grade(self, username: str, course_id: str) -> dict | None:
        return _find(self._learners[username]["grades"], course_id)

    def certificate(self, username: str, course_id: str) -> dict | None:
        return _find(self._learners[username]["certificates"], course_id)

    # --- run-time changes ----------------------------------------------------------------

    def put_learner(self, username: str, learner: dict) -> bool:
        """Create or replace a learner (already validated); True if it is new.

        Tokens given in the object replace the learner's current ones; left out, a known
        learner keeps theirs.
        """
        tokens = self._tokens_for_put(username, learner)
        created = username not in self._learners
        if not created:
            self._unindex(username)
        self._index(username, learner)
        self._grant(username, *tokens)
        return created

    def _tokens_for_put(self, username: str, learner: dict) -> tuple[str, str]:
        current = self._tokens.get(username)
        access = learner.get("access_token") or (current and current[0])
        refresh = learner.get("refresh_token") or (current and current[1])
        if not access or not refresh:
            raise LearnerConflict("a new learner needs access_token and refresh_token")
        holder = self._access.get(access)
        if holder is not None and holder.username != username:
            raise LearnerConflict(f"access_token is already in use by {holder}")
        if self._refresh.get(refresh, username) != username:
            raise LearnerConflict("refresh_token is already another learner's")
        return access, refresh

    def _index(self, username: str, learner: dict) -> None:
        self._learners[username] = learner
        for course_id in learner_course_ids(learner):
            self.course_runs.setdefault(course_id)
            self._course_enrollments.setdefault(course_id, [])
            self._course_grades.setdefault(course_id, [])
        for enrollment in learner["enrollments"]:
            self._course_enrollments[record_course_id(enrollment)].append(enrollment)
        for grade in learner["grades"]:
            self._course_grades[grade["course_id"]].append(grade)
        self._all_enrollments = None

    def _unindex(self, username: str) -> None:
        learner = self._learners.pop(username)
        for enrollment in learner["enrollments"]:
            course = record_course_id(enrollment)
            self._course_enrollments[course] = [
                e for e in self._course_enrollments[course] if e is not enrollment
            ]
        for grade in learner["grades"]:
            course = grade["course_id"]
            self._course_grades[course] = [g for g in self._course_grades[course] if g is not grade]
        self._all_enrollments = None


def _find(records: list[dict], course_id: str) -> dict | None:
    """A learner's record for one course run (a learner has a handful, so a scan is fine)."""
    for record in records:
        if record["course_id"] == course_id:
            return record
    return None


def _token_answer(access: str, refresh: str | None = None) -> dict:
    answer = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_S,
        "scope": "read write",
    }
    if refresh is not None:
        answer["refresh_token"] = refresh
    return answer
