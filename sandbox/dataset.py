"""The sandbox's data file: reading it, checking it, and generating demo ones.

A data file lists learners with the enrollments, grades and certificates the LMS holds for
them, in edX's own JSON shapes. Checking it up front means a typo fails loudly at start-up,
naming the learner and field, instead of surfacing later as a puzzling HTTP answer.
"""

import gc
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from sandbox.faults import FaultError, parse_faults
from sandbox.settings import SettingsError, parse_settings

DEFAULT_COURSE_KEY = "course-v1:MITx+Analog+Learning+200+Jan_2015"
# Where gradefreeze's "Sign in with edX" comes back to: social-auth's /complete/<backend>/.
# A loopback address without a port matches any port (RFC 8252, as django-oauth-toolkit).
DEFAULT_REDIRECT_URIS = "http://127.0.0.1/complete/edxorg/ http://localhost:8000/complete/edxorg/"
# The learners' client: authorization code (the learners' tokens belong to it), not staff.
DEFAULT_CLIENT = {
    "client_id": "gradefreeze",
    "client_secret": "sandbox-secret",
    "grant_type": "authorization-code",
    "redirect_uris": DEFAULT_REDIRECT_URIS,
    "name": "gradefreeze",
}
# The platform's own client for course-wide reads: client credentials, its user is staff.
DEFAULT_STAFF_CLIENT = {
    "client_id": "gradefreeze-staff",
    "client_secret": "sandbox-staff-secret",
    "grant_type": "client-credentials",
    "staff": True,
    "name": "gradefreeze (course-wide reads)",
}
# A learner's password when the data file gives none (the sign-in page asks for it).
DEFAULT_PASSWORD = "edx"
# django-oauth-toolkit's Application.authorization_grant_type values the sandbox serves.
GRANT_TYPES = ("authorization-code", "client-credentials")

_TOP_KEYS = frozenset({"clients", "course_runs", "learners", "faults", "seed", "settings"})
_LEARNER_KEYS = frozenset(
    {
        "email",
        "access_token",
        "refresh_token",
        "enrollments",
        "grades",
        "certificates",
        "faults",
        "revoked",
        "password",
        "name",
        "date_joined",
    }
)
_CLIENT_KEYS = frozenset(
    {
        "client_id",
        "client_secret",
        "staff",
        "grant_type",
        "redirect_uris",
        "name",
        "skip_authorization",
    }
)
_COURSE_RUN_KEYS = frozenset({"course_id", "certificates_configured"})
_USERNAME = re.compile(r"^[\w.@+-]+$")
_COURSE_ID = re.compile(r"^[^\s?#]+$")


class DatasetError(ValueError):
    """A data file the sandbox cannot serve; the message names the offending part."""


class Dataset(dict):
    """A data file's content that has passed `validate` (so it is not checked twice)."""


def load(path: str | Path) -> Dataset:
    """Read and check a data file, ready for `sandbox.server.build_app`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read it ({error})") from None
    try:
        data = _parse_json(text)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    del text
    _share_course_details(data)
    try:
        return validate(data)
    except DatasetError as error:
        raise DatasetError(f"{path}: {error}") from None


def _parse_json(text: str) -> object:
    """json.loads with the cyclic GC paused: JSON makes no cycles, and a large file would
    otherwise trigger collections over millions of fresh objects (twice as slow)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text)
    finally:
        if was_enabled:
            gc.enable()


def _share_course_details(data: object) -> None:
    """Let enrollments in the same course run share one course_details object.

    A file repeats the block in every enrollment; sharing it divides the memory a large
    dataset needs by about three.
    """
    if not isinstance(data, dict) or not isinstance(data.get("learners"), dict):
        return
    shared: dict[str, dict] = {}
    for learner in data["learners"].values():
        enrollments = learner.get("enrollments") if isinstance(learner, dict) else None
        for enrollment in enrollments if isinstance(enrollments, list) else ():
            details = enrollment.get("course_details") if isinstance(enrollment, dict) else None
            if not isinstance(details, dict) or not isinstance(details.get("course_id"), str):
                continue
            first = shared.setdefault(details["course_id"], details)
            if first is not details and first == details:
                enrollment["course_details"] = first


def validate(data: object) -> Dataset:
    """Check a data file's content and return it normalised (course_runs filled in).

    The caller's objects are not modified; learner objects are shallow-copied with their
    optional keys filled in. A `Dataset` (already validated) is returned as it is.
    """
    if isinstance(data, Dataset):
        return data
    if not isinstance(data, dict):
        raise DatasetError("the data file must be a JSON object")
    _reject_unknown(data, _TOP_KEYS, "top level")
    raw_learners = data.get("learners")
    if not isinstance(raw_learners, dict):
        raise DatasetError("learners: required, an object keyed by username")
    learners = {
        username: validate_learner(username, raw, f"learners.{username}")
        for username, raw in raw_learners.items()
    }
    _check_tokens_unique(learners)
    course_runs, unconfigured = _course_runs(data.get("course_runs"), learners)
    return Dataset(
        clients=_clients(data.get("clients", [])),
        course_runs=course_runs,
        certificates_unconfigured=unconfigured,
        learners=learners,
        faults=_faults(data.get("faults"), "faults"),
        seed=_seed(data.get("seed")),
        settings=_settings(data.get("settings")),
    )


def validate_learner(username: object, raw: object, where: str, require_tokens=True) -> dict:
    """Check one learner object (also used when a learner is replaced at run time)."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise DatasetError(f"{where}: the username must be letters, digits or . @ + - _")
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: must be an object")
    _reject_unknown(raw, _LEARNER_KEYS, where)
    learner = {
        "email": _text(raw, "email", where),
        "enrollments": _records(raw, "enrollments", username, where, _enrollment_course),
        "grades": _records(raw, "grades", username, where, _grade_course),
        "certificates": _records(raw, "certificates", username, where, _certificate_course),
        "faults": _faults(raw.get("faults"), f"{where}.faults"),
        "revoked": _optional_flag(raw, "revoked", where),
    }
    for key in ("password", "name", "date_joined"):
        if key in raw:
            learner[key] = _text(raw, key, where) if key != "name" else _string(raw, key, where)
    for key in ("access_token", "refresh_token"):
        if key in raw or require_tokens:
            learner[key] = _text(raw, key, where)
    return learner


def learner_course_ids(learner: dict) -> list[str]:
    """Every course run a learner's records mention, in first-seen order."""
    seen = {}
    for kind in ("enrollments", "grades", "certificates"):
        for record in learner[kind]:
            seen[record_course_id(record)] = None
    return list(seen)


def record_course_id(record: dict) -> str:
    """The course run of an enrollment (nested under course_details), grade or certificate."""
    details = record.get("course_details")
    return details["course_id"] if details is not None else record["course_id"]


def _reject_unknown(raw: dict, known: frozenset, where: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")


def _text(raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{where}.{key}: required, a non-empty string, got {value!r}")
    return value


def _string(raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise DatasetError(f"{where}.{key}: must be a string, got {value!r}")
    return value


def _optional_flag(raw: dict, key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise DatasetError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def _typed(raw: dict, key: str, types: tuple, where: str, expected: str):
    if key not in raw:
        raise DatasetError(f"{where}.{key}: required ({expected})")
    value = raw[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise DatasetError(f"{where}.{key}: must be {expected}, got {value!r}")
    return value


def _course_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not _COURSE_ID.match(value):
        raise DatasetError(f"{where}: must be a course run id without spaces, got {value!r}")
    return value


def _records(raw: dict, kind: str, username: str, where: str, check) -> list[dict]:
    """Check a learner's list of edX records, one per course run."""
    records = raw.get(kind, [])
    if not isinstance(records, list):
        raise DatasetError(f"{where}.{kind}: must be a list")
    seen = set()
    for index, record in enumerate(records):
        at = f"{where}.{kind}[{index}]"
        if not isinstance(record, dict):
            raise DatasetError(f"{at}: must be an object")
        course_id = check(record, username, at)
        if course_id in seen:
            raise DatasetError(f"{at}: a second record for course run {course_id}")
        seen.add(course_id)
    return records


def _owner(record: dict, key: str, username: str, where: str) -> None:
    if record.get(key) != username:
        raise DatasetError(f"{where}.{key}: must be the learner's username {username!r}")


def _enrollment_course(record: dict, username: str, where: str) -> str:
    details = _typed(record, "course_details", (dict,), where, "an object")
    course_id = _course_id(details.get("course_id"), f"{where}.course_details.course_id")
    _typed(record, "mode", (str,), where, "a string such as 'verified'")
    _typed(record, "is_active", (bool,), where, "true or false")
    _typed(record, "created", (str, type(None)), where, "a timestamp string or null")
    _owner(record, "user", username, where)
    return course_id


def _grade_course(record: dict, username: str, where: str) -> str:
    """A persisted grade. Its `email` may be given (old files) but is not served: edX shows
    the learner's email only to staff listing a masters-track enrollment."""
    course_id = _course_id(record.get("course_id"), f"{where}.course_id")
    _owner(record, "username", username, where)
    if "email" in record:
        _typed(record, "email", (str,), where, "a string")
    _typed(record, "passed", (bool,), where, "true or false")
    percent = _typed(record, "percent", (int, float), where, "a number between 0 and 1")
    if not 0 <= percent <= 1:
        raise DatasetError(f"{where}.percent: must be a number between 0 and 1, got {percent!r}")
    _typed(record, "letter_grade", (str, type(None)), where, "a string or null")
    return course_id


def _certificate_course(record: dict, username: str, where: str) -> str:
    """A GeneratedCertificate. Its creation time is `created_date` (the name edX serves) or,
    in older files, `created`; `modified` and `is_passing` may be given but edX derives
    what it serves (is_passing comes from the status)."""
    course_id = _course_id(record.get("course_id"), f"{where}.course_id")
    _owner(record, "username", username, where)
    _typed(record, "certificate_type", (str,), where, "a string such as 'verified'")
    _typed(record, "status", (str,), where, "a string such as 'downloadable'")
    _typed(record, "download_url", (str, type(None)), where, "a string or null")
    _typed(record, "grade", (str, int, float), where, "a string such as '0.87'")
    if "created_date" not in record:
        _typed(record, "created", (str,), where, "a timestamp string (or give created_date)")
    for key in ("created_date", "created", "modified"):
        if key in record:
            _typed(record, key, (str,), where, "a timestamp string")
    if "is_passing" in record:
        _typed(record, "is_passing", (bool,), where, "true or false")
    return course_id


def _faults(raw: object, where: str) -> dict:
    try:
        parse_faults(raw, where)
    except FaultError as error:
        raise DatasetError(str(error)) from None
    return raw or {}


def _clients(raw: object) -> list[dict]:
    if not isinstance(raw, list):
        raise DatasetError("clients: must be a list of OAuth clients")
    seen = set()
    for index, client in enumerate(raw):
        where = f"clients[{index}]"
        if not isinstance(client, dict):
            raise DatasetError(f"{where}: must be an object")
        _reject_unknown(client, _CLIENT_KEYS, where)
        client_id = _text(client, "client_id", where)
        _text(client, "client_secret", where)
        _optional_flag(client, "staff", where)
        _optional_flag(client, "skip_authorization", where)
        if "name" in client:
            _string(client, "name", where)
        grant_type = client.get("grant_type", "client-credentials")
        if grant_type not in GRANT_TYPES:
            raise DatasetError(f"{where}.grant_type: must be one of {list(GRANT_TYPES)}")
        _redirect_uris(client, grant_type, where)
        if client_id in seen:
            raise DatasetError(f"{where}.client_id: {client_id!r} is listed twice")
        seen.add(client_id)
    return raw


def _redirect_uris(client: dict, grant_type: str, where: str) -> None:
    """Space-separated absolute http(s) URIs, as django-oauth-toolkit's Application keeps
    them; an authorization-code client needs at least one (Application.clean)."""
    uris = client.get("redirect_uris", "")
    if not isinstance(uris, str):
        raise DatasetError(f"{where}.redirect_uris: must be a space-separated string of URIs")
    for uri in uris.split():
        parsed = urlparse(uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.fragment:
            raise DatasetError(f"{where}.redirect_uris: {uri!r} is not an absolute http(s) URI")
    if grant_type == "authorization-code" and not uris.split():
        raise DatasetError(f"{where}.redirect_uris: required for an authorization-code client")


def _course_runs(declared: object, learners: dict) -> tuple[list[str], list[str]]:
    """The declared course runs (ids, or objects with an id and options), checked against
    the learners' records, or derived from them; and the runs without an active
    certificate configuration."""
    if declared is None:
        derived = {}
        for learner in learners.values():
            derived.update(dict.fromkeys(learner_course_ids(learner)))
        return list(derived), []
    if not isinstance(declared, list):
        raise DatasetError("course_runs: must be a list of course run ids")
    ids, unconfigured = [], []
    for index, entry in enumerate(declared):
        where = f"course_runs[{index}]"
        if isinstance(entry, dict):
            _reject_unknown(entry, _COURSE_RUN_KEYS, where)
            course_id = _course_id(entry.get("course_id"), f"{where}.course_id")
            configured = entry.get("certificates_configured", True)
            if not isinstance(configured, bool):
                raise DatasetError(f"{where}.certificates_configured: must be true or false")
            if not configured:
                unconfigured.append(course_id)
        else:
            course_id = _course_id(entry, where)
        ids.append(course_id)
    known = set(ids)
    if len(known) != len(ids):
        raise DatasetError("course_runs: a course run is listed twice")
    for username, learner in learners.items():
        for course_id in learner_course_ids(learner):
            if course_id not in known:
                raise DatasetError(
                    f"learners.{username}: course run {course_id} is not in course_runs"
                )
    return ids, unconfigured


def _settings(raw: object) -> dict:
    try:
        parse_settings(raw)
    except SettingsError as error:
        raise DatasetError(str(error)) from None
    return raw or {}


def _check_tokens_unique(learners: dict) -> None:
    for key in ("access_token", "refresh_token"):
        owners = {}
        for username, learner in learners.items():
            token = learner[key]
            if token in owners:
                raise DatasetError(
                    f"learners.{username}.{key}: same token as learner {owners[token]!r}"
                )
            owners[token] = username


def _seed(raw: object) -> int | None:
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise DatasetError(f"seed: must be a whole number, got {raw!r}")
    return raw


# --- demo datasets -------------------------------------------------------------------------

_COURSE_START = datetime(2015, 1, 6, 15, 0, tzinfo=UTC)
_MODE_NAMES = {"audit": "Audit", "honor": "Honor", "verified": "Verified Certificate"}
_MODE_PRICES = {"audit": 0, "honor": 0, "verified": 49}


def generate(
    learners: int = 300,
    course_keys: tuple[str, ...] = (DEFAULT_COURSE_KEY,),
    seed: int = 1,
    revoked: int = 10,
    no_certificate_share: float = 0.3,
    passed_share: float = 0.6,
    audit_share: float = 0.2,
    honor_share: float = 0.1,
    client: dict = DEFAULT_CLIENT,
    staff_client: dict = DEFAULT_STAFF_CLIENT,
) -> dict:
    """A plausible data file: every learner enrolled in every course run, graded, and
    mostly certified. The same arguments always give the same dataset.

    Learners are learner00001, learner00002, ...; their tokens are at-<username>-0 and
    rt-<username>-0, granted to `client` (authorization code); `staff_client` (client
    credentials, staff) reads course-wide. A certificate's type is the enrollment mode. It is
    downloadable when the grade passed (percent >= 0.5), otherwise notpassing or unverified;
    an audit learner's is audit_passing or audit_notpassing, as on edX.
    """
    generated = generate_learners(
        learners,
        course_keys,
        seed,
        revoked,
        no_certificate_share,
        passed_share,
        audit_share,
        honor_share,
    )
    return {**generated_head(course_keys, seed, client, staff_client), "learners": dict(generated)}


def generated_head(
    course_keys: tuple[str, ...],
    seed: int = 1,
    client: dict = DEFAULT_CLIENT,
    staff_client: dict = DEFAULT_STAFF_CLIENT,
) -> dict:
    """A generated data file but its learners: for a writer that streams them after it."""
    return {
        "seed": seed,
        "clients": [dict(client), dict(staff_client)],
        "course_runs": list(course_keys),
        "faults": {},
    }


def generate_learners(
    learners: int = 300,
    course_keys: tuple[str, ...] = (DEFAULT_COURSE_KEY,),
    seed: int = 1,
    revoked: int = 10,
    no_certificate_share: float = 0.3,
    passed_share: float = 0.6,
    audit_share: float = 0.2,
    honor_share: float = 0.1,
) -> Iterator[tuple[str, dict]]:
    """`generate`'s learners as (username, learner), one at a time, so that a million of
    them can be written and seeded without holding them all."""
    _check_generate_args(
        learners, course_keys, revoked, no_certificate_share, passed_share, audit_share, honor_share
    )
    rng = random.Random(seed)
    details = {key: _course_details(key, n) for n, key in enumerate(course_keys)}
    usernames = [f"learner{n:05d}" for n in range(1, learners + 1)]
    shuffled = usernames[:]
    rng.shuffle(shuffled)
    revoked_learners = set(shuffled[:revoked])
    del shuffled
    mode_weights = (audit_share, honor_share, 1 - audit_share - honor_share)
    for username in usernames:
        learner = _generated_learner(
            username, details, rng, mode_weights, passed_share, no_certificate_share
        )
        if username in revoked_learners:
            learner["revoked"] = True
        yield username, learner


def _check_generate_args(learners, course_keys, revoked, *shares) -> None:
    if not isinstance(learners, int) or learners < 0:
        raise DatasetError(f"learners: must be a whole number >= 0, got {learners!r}")
    if not course_keys or len(set(course_keys)) != len(course_keys):
        raise DatasetError("course keys: give at least one, each once")
    for index, key in enumerate(course_keys):
        _course_id(key, f"course key {index + 1}")
    if not isinstance(revoked, int) or not 0 <= revoked <= learners:
        raise DatasetError(f"revoked: must be between 0 and the number of learners, got {revoked}")
    if any(not 0 <= share <= 1 for share in shares):
        raise DatasetError(f"shares must be between 0 and 1, got {list(shares)}")
    if shares[-1] + shares[-2] > 1:
        raise DatasetError("audit share + honor share must not exceed 1")


def _course_details(course_key: str, index: int) -> dict:
    """edX's course_details block; runs start a week apart so they are told apart."""
    start = _COURSE_START + timedelta(weeks=index)
    return {
        "course_id": course_key,
        "course_start": _timestamp(start),
        "course_end": _timestamp(start + timedelta(weeks=20)),
        "enrollment_start": _timestamp(start - timedelta(weeks=8)),
        "enrollment_end": _timestamp(start + timedelta(weeks=12)),
        "invite_only": False,
        "course_modes": [_course_mode(slug) for slug in ("audit", "honor", "verified")],
    }


def _course_mode(slug: str) -> dict:
    return {
        "slug": slug,
        "name": _MODE_NAMES[slug],
        "min_price": _MODE_PRICES[slug],
        "suggested_prices": "",
        "currency": "usd",
        "expiration_datetime": None,
        "description": None,
        "sku": None,
    }


def _generated_learner(username, details, rng, mode_weights, passed_share, no_cert_share):
    email = f"{username}@example.com"
    certified = rng.random() >= no_cert_share
    enrollments, grades, certificates = [], [], []
    for course_key, course_details in details.items():
        mode = rng.choices(("audit", "honor", "verified"), mode_weights)[0]
        passed = rng.random() < passed_share
        percent = round(rng.uniform(0.5, 1.0) if passed else rng.uniform(0.0, 0.49), 2)
        enrollments.append(_enrollment(username, course_details, mode, rng))
        grades.append(
            {
                "course_id": course_key,
                "email": email,
                "passed": passed,
                "percent": percent,
                "letter_grade": "Pass" if passed else None,
                "username": username,
            }
        )
        if certified:
            certificates.append(_certificate(username, course_key, mode, percent, passed, rng))
    return {
        "email": email,
        "access_token": f"at-{username}-0",
        "refresh_token": f"rt-{username}-0",
        "enrollments": enrollments,
        "grades": grades,
        "certificates": certificates,
    }


def _enrollment(username: str, course_details: dict, mode: str, rng: random.Random) -> dict:
    created = _COURSE_START - timedelta(seconds=rng.randrange(8 * 7 * 24 * 3600))
    return {
        "course_details": course_details,
        "created": _timestamp(created),
        "is_active": True,
        "mode": mode,
        "user": username,
    }


def _certificate(username, course_key, mode, percent, passed, rng) -> dict:
    """edX's certificate record; an audit learner's is never downloadable (audit_passing)."""
    if mode == "audit":
        status = "audit_passing" if passed else "audit_notpassing"
    else:
        status = "downloadable" if passed else rng.choice(("notpassing", "unverified"))
    passed = status == "downloadable"
    issued = _timestamp(_COURSE_START + timedelta(weeks=21, seconds=rng.randrange(86400)))
    url = f"https://sandbox.example.com/certificates/{rng.getrandbits(128):032x}"
    return {
        "username": username,
        "course_id": course_key,
        "certificate_type": mode,
        "status": status,
        "download_url": url if passed else "",
        "grade": str(percent),
        "created_date": issued,
        "is_passing": passed,
    }


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
