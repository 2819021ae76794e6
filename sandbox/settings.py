"""What one sandbox LMS is configured with: rate limits, token lifetimes, the username rule.

The defaults are edx-platform's (Redwood to Teak), so a sandbox started without options
refuses what a real LMS refuses. Tests and the benchmark that measure something else raise
the limits explicitly, from the data file's "settings", the command line or `build_app`.
"""

import re
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType

# edX's rates: EnrollmentUserThrottle.THROTTLE_RATES (enrollments/views.py) and
# RATELIMIT_RATE (lms/envs/common.py), which guards /oauth2/access_token per client IP.
EDX_RATES = MappingProxyType(
    {"enrollments_user": "40/minute", "enrollments_staff": "120/minute", "token": "120/m"}
)
_RATE = re.compile(r"^(\d+)/(\d*)\s*([smhd])[a-z]*$", re.IGNORECASE)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NUMBERS = (
    "access_token_expire_seconds",
    "refresh_token_expire_seconds",
    "authorization_code_expire_seconds",
    "jwt_expire_seconds",
)


class SettingsError(ValueError):
    """A setting the sandbox cannot use; the message names it."""


@dataclass(frozen=True)
class Rate:
    """So many requests per period, written as edX writes it ("40/minute", "120/m")."""

    limit: int
    period_s: int
    text: str


def parse_rate(text: object, where: str) -> Rate | None:
    """A rate such as "120/minute" or "100/5m"; "off" means no limit."""
    if isinstance(text, str) and text.strip().lower() in ("off", "none"):
        return None
    match = _RATE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise SettingsError(f"{where}: must be a rate such as '120/minute' or 'off', got {text!r}")
    count, multiple, unit = match.groups()
    return Rate(int(count), _PERIODS[unit.lower()] * int(multiple or 1), text.strip())


def _edx_rates() -> MappingProxyType:
    return MappingProxyType({name: parse_rate(text, name) for name, text in EDX_RATES.items()})


@dataclass(frozen=True)
class SandboxSettings:
    """The sandbox's configuration; `rate(name)` is what the throttles enforce."""

    throttles: bool = True
    rates: MappingProxyType = field(default_factory=_edx_rates)
    unicode_usernames: bool = False
    access_token_expire_seconds: float = 36000  # django-oauth-toolkit's default
    refresh_token_expire_seconds: float = 7776000  # OAUTH2_PROVIDER in lms/envs/common.py
    authorization_code_expire_seconds: float = 60  # django-oauth-toolkit's default
    jwt_expire_seconds: float = 3600  # JWT_ACCESS_TOKEN_EXPIRE_SECONDS
    jwt_secret: str = "sandbox-jwt-secret-not-for-production-use"

    def rate(self, name: str) -> Rate | None:
        return self.rates[name] if self.throttles else None

    def to_json(self) -> dict:
        """The settings as a data file's "settings" would write them."""
        answer = {f.name: getattr(self, f.name) for f in fields(self)}
        answer["throttles"] = "edx" if self.throttles else "off"
        answer["rates"] = {n: r.text if r else "off" for n, r in self.rates.items()}
        return answer


def parse_settings(raw: object, where: str = "settings", base: SandboxSettings | None = None):
    """Read a "settings" object (data file, command line or build_app keywords) on top of
    `base` (edX's defaults). Unknown keys are refused, as everywhere in the data file."""
    base = base or SandboxSettings()
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: must be an object")
    known = {f.name for f in fields(SandboxSettings)}
    unknown = set(raw) - known
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    changes = {}
    if "throttles" in raw:
        changes["throttles"] = _throttles(raw["throttles"], f"{where}.throttles")
    if "rates" in raw:
        changes["rates"] = _rates(raw["rates"], f"{where}.rates", base.rates)
    if "unicode_usernames" in raw:
        value = raw["unicode_usernames"]
        if not isinstance(value, bool):
            raise SettingsError(f"{where}.unicode_usernames: must be true or false")
        changes["unicode_usernames"] = value
    for name in _NUMBERS:
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SettingsError(f"{where}.{name}: must be a number > 0, got {value!r}")
            changes[name] = value
    if "jwt_secret" in raw:
        if not isinstance(raw["jwt_secret"], str) or not raw["jwt_secret"]:
            raise SettingsError(f"{where}.jwt_secret: must be a non-empty string")
        changes["jwt_secret"] = raw["jwt_secret"]
    return replace(base, **changes)


def _throttles(value: object, where: str) -> bool:
    if value in ("edx", True):
        return True
    if value in ("off", False):
        return False
    raise SettingsError(f"{where}: must be 'edx' or 'off', got {value!r}")


def _rates(raw: object, where: str, base: MappingProxyType) -> MappingProxyType:
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: must be an object keyed by {sorted(EDX_RATES)}")
    unknown = set(raw) - set(EDX_RATES)
    if unknown:
        raise SettingsError(
            f"{where}: unknown rate(s) {sorted(unknown)}; known: {sorted(EDX_RATES)}"
        )
    merged = dict(base)
    merged.update({name: parse_rate(text, f"{where}.{name}") for name, text in raw.items()})
    return MappingProxyType(merged)
