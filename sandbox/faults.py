"""Injected failures: how the sandbox misbehaves on purpose.

The freeze pipeline has to survive an LMS that refuses, stalls or garbles answers. A fault
spec says what goes wrong; the fault book decides, request by request, whether it does.
"""

import random
from dataclasses import asdict, dataclass

ENDPOINTS = ("token", "enrollments", "grades", "certificates", "user")
DEFAULT_TIMEOUT_S = 30.0
_SPEC_KEYS = frozenset(
    {"status", "timeout", "timeout_s", "delay_ms", "malformed", "read_error", "rate", "times"}
)
# Endpoints where a learner's grade read can raise (CourseGradeFactory.read).
_READ_ERROR_ENDPOINTS = ("grades",)


class FaultError(ValueError):
    """A fault spec that cannot be understood; the message names where it is."""


@dataclass(frozen=True)
class FaultSpec:
    """What one fault does. At most one of status, timeout, malformed and read_error; delay
    adds on. read_error: edX's grade read raises for the learner, so a course's grade
    listing leaves them out and their own grade answers 500."""

    status: int | None = None
    timeout: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    delay_ms: float = 0.0
    malformed: bool = False
    read_error: bool = False
    rate: float = 1.0
    times: int | None = None

    @property
    def replaces_answer(self) -> bool:
        """Whether the normal answer is lost (as opposed to merely delayed)."""
        return self.status is not None or self.timeout or self.malformed or self.read_error

    def to_json(self) -> dict:
        """The spec as a data file would write it, defaults left out."""
        defaults = FaultSpec()
        return {k: v for k, v in asdict(self).items() if v != getattr(defaults, k)}


@dataclass(frozen=True)
class Outcome:
    """The faults that hit one request: the extra wait, then what replaces the answer."""

    delay_s: float
    spec: FaultSpec | None


def parse_spec(raw: object, where: str, endpoint: str | None = None) -> FaultSpec:
    """Read one fault spec from data-file JSON, refusing anything ambiguous or mistyped."""
    if not isinstance(raw, dict):
        raise FaultError(f"{where}: a fault must be an object, got {type(raw).__name__}")
    unknown = set(raw) - _SPEC_KEYS
    if unknown:
        raise FaultError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_SPEC_KEYS)}")
    spec = FaultSpec(
        status=_status(raw.get("status"), where),
        timeout=_flag(raw, "timeout", where),
        timeout_s=_number(raw, "timeout_s", DEFAULT_TIMEOUT_S, where, low=0.0),
        delay_ms=_number(raw, "delay_ms", 0.0, where, low=0.0),
        malformed=_flag(raw, "malformed", where),
        read_error=_flag(raw, "read_error", where),
        rate=_number(raw, "rate", 1.0, where, low=0.0, high=1.0),
        times=_times(raw.get("times"), where),
    )
    kinds = [spec.status is not None, spec.timeout, spec.malformed, spec.read_error]
    if sum(kinds) > 1:
        raise FaultError(f"{where}: choose one of status, timeout, malformed, read_error")
    if not any(kinds) and not spec.delay_ms:
        raise FaultError(
            f"{where}: a fault needs status, timeout, malformed, read_error or delay_ms"
        )
    if spec.read_error and endpoint not in _READ_ERROR_ENDPOINTS:
        raise FaultError(f"{where}: read_error is a fault of {list(_READ_ERROR_ENDPOINTS)} only")
    return spec


def parse_faults(raw: object, where: str) -> dict[str, FaultSpec]:
    """Read an endpoint -> fault mapping (the shape of both top-level and learner faults)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FaultError(f"{where}: must be an object keyed by endpoint {list(ENDPOINTS)}")
    return {
        _endpoint(name, where): parse_spec(spec, f"{where}.{name}", name)
        for name, spec in raw.items()
    }


def parse_fault_changes(raw: object, where: str) -> dict[str, FaultSpec | None]:
    """Read faults to replace at run time, where null means "remove this endpoint's fault"."""
    if not isinstance(raw, dict):
        raise FaultError(f"{where}: must be an object keyed by endpoint {list(ENDPOINTS)}")
    return {
        _endpoint(name, where): None if spec is None else parse_spec(spec, f"{where}.{name}", name)
        for name, spec in raw.items()
    }


def _endpoint(name: str, where: str) -> str:
    if name not in ENDPOINTS:
        raise FaultError(f"{where}: unknown endpoint {name!r}; known: {list(ENDPOINTS)}")
    return name


def _status(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise FaultError(f"{where}.status: must be an HTTP status code, got {value!r}")
    return value


def _flag(raw: dict, key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise FaultError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def _number(raw: dict, key: str, default: float, where: str, low: float, high=None) -> float:
    value = raw.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise FaultError(f"{where}.{key}: must be a number {bounds}, got {value!r}")
    return float(value)


def _times(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{where}.times: must be a whole number >= 0, got {value!r}")
    return value


@dataclass
class _ArmedFault:
    """A spec plus how often it has hit, so `times` can run out."""

    spec: FaultSpec
    hits: int = 0

    def strikes(self, rng: random.Random) -> bool:
        spec = self.spec
        if spec.times is not None and self.hits >= spec.times:
            return False
        if spec.rate < 1.0 and rng.random() >= spec.rate:
            return False
        self.hits += 1
        return True


class FaultBook:
    """Every fault in force, per endpoint and per learner, and the dice that fire them.

    A learner's faults are consulted before the endpoint-wide ones; delays add up and the
    first fault that replaces the answer wins. `times` counts the requests a fault actually
    hit, so `{"status": 503, "times": 2}` fails twice and then lets requests through.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._by_endpoint: dict[str, _ArmedFault] = {}
        self._by_learner: dict[str, dict[str, _ArmedFault]] = {}

    def set_endpoint_faults(self, specs: dict[str, FaultSpec | None]) -> None:
        """Replace the named endpoints' faults; None removes one."""
        _merge(self._by_endpoint, specs)

    def set_learner_faults(self, username: str, specs: dict[str, FaultSpec | None]) -> None:
        """Replace the named endpoints' faults for one learner; None removes one."""
        armed = self._by_learner.setdefault(username, {})
        _merge(armed, specs)
        if not armed:
            del self._by_learner[username]

    def forget_learner(self, username: str) -> None:
        """Drop all of a learner's faults (the learner was replaced)."""
        self._by_learner.pop(username, None)

    def clear(self) -> None:
        """No faults anywhere."""
        self._by_endpoint.clear()
        self._by_learner.clear()

    def snapshot(self) -> dict:
        """The faults in force, in the shape PUT /_sandbox/faults accepts."""
        return {
            "faults": {name: armed.spec.to_json() for name, armed in self._by_endpoint.items()},
            "learners": {
                username: {"faults": {name: a.spec.to_json() for name, a in armed.items()}}
                for username, armed in self._by_learner.items()
            },
        }

    def roll(
        self, endpoint: str, learners: tuple[str, ...] = (), listing: bool = False
    ) -> Outcome | None:
        """Decide which faults hit a request to `endpoint` about `learners`, if any. In a
        listing, read_error faults hit rows (see `drops`), not the whole answer."""
        candidates = [
            self._by_learner[u][endpoint]
            for u in learners
            if u in self._by_learner and endpoint in self._by_learner[u]
        ]
        if endpoint in self._by_endpoint:
            candidates.append(self._by_endpoint[endpoint])
        if listing:
            candidates = [armed for armed in candidates if not armed.spec.read_error]
        delay_ms = 0.0
        for armed in candidates:
            if armed.strikes(self._rng):
                delay_ms += armed.spec.delay_ms
                if armed.spec.replaces_answer:
                    return Outcome(delay_ms / 1000, armed.spec)
        return Outcome(delay_ms / 1000, None) if delay_ms else None

    def reads_fail(self, endpoint: str) -> bool:
        """Whether any read_error fault is in force for `endpoint` (a listing's fast path)."""
        if endpoint in self._by_endpoint and self._by_endpoint[endpoint].spec.read_error:
            return True
        return any(
            endpoint in armed and armed[endpoint].spec.read_error
            for armed in self._by_learner.values()
        )

    def drops(self, endpoint: str, username: str) -> bool:
        """Whether this learner's read fails now (a read_error fault strikes): the learner's
        own fault first, then the endpoint's."""
        armed = self._by_learner.get(username, {}).get(endpoint)
        if armed is not None and armed.spec.read_error and armed.strikes(self._rng):
            return True
        armed = self._by_endpoint.get(endpoint)
        return armed is not None and armed.spec.read_error and armed.strikes(self._rng)


def _merge(armed: dict[str, _ArmedFault], specs: dict[str, FaultSpec | None]) -> None:
    for endpoint, spec in specs.items():
        if spec is None:
            armed.pop(endpoint, None)
        else:
            armed[endpoint] = _ArmedFault(spec)
