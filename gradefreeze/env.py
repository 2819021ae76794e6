"""Reading settings from the environment, strictly.

A value that does not parse stops the process at start-up with ImproperlyConfigured
naming the variable and the value: `DEBUG=ture` is refused rather than read as off.
(django-environ reads any boolean it does not know as false, which is why this small
reader exists.) Ranges are checked by system checks (`gradefreeze.checks`), which
`manage.py check` and the workers run.
"""

import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _refuse(name: str, value: str, what: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"The environment variable {name}={value!r} is not {what}.")


def text(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise _refuse(name, value, "a boolean (1/0, true/false, yes/no or on/off)")


def integer(name: str, default: int) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise _refuse(name, value, "a whole number") from None


def number(name: str, default: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise _refuse(name, value, "a number") from None
    if not math.isfinite(parsed):
        raise _refuse(name, value, "a finite number")
    return parsed


def choice(name: str, default: str, choices: Iterable[str]) -> str:
    value = _raw(name)
    if value is None:
        return default
    choices = list(choices)
    if value not in choices:
        raise _refuse(name, value, "one of " + ", ".join(choices))
    return value


def items(name: str, default: Iterable[str] = ()) -> list[str]:
    """A comma-separated list; empty items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


class Rate(NamedTuple):
    """So many requests per so many seconds."""

    requests: int
    seconds: int


_RATE = re.compile(r"^(\d+)/(\d*)([smhd])[a-z]*$")
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(text: str) -> Rate | None:
    """A rate as DRF and django-ratelimit write it ("120/minute", "120/m", "100/5m"), or
    "off" (None: no limit). ValueError for anything else."""
    text = text.strip().lower()
    if text == "off":
        return None
    match = _RATE.match(text)
    if match is None:
        raise ValueError(text)
    count, multiple, unit = match.groups()
    return Rate(int(count), _PERIODS[unit] * int(multiple or 1))


def rates(name: str, default: Mapping[str, str]) -> dict[str, Rate | None]:
    """Rates keyed by name, `default`'s keys only: "token=120/m,grades=off" changes those
    two and keeps the defaults of the others."""
    parsed = {key: parse_rate(text) for key, text in default.items()}
    value = _raw(name)
    if value is None:
        return parsed
    what = (
        "a comma-separated list of NAME=RATE (a rate such as 120/minute, 100/5m or off; "
        "names: " + ", ".join(default) + ")"
    )
    seen: set[str] = set()
    for item in (item.strip() for item in value.split(",")):
        if not item:
            continue
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or key not in default or key in seen:
            raise _refuse(name, value, what)
        seen.add(key)
        try:
            parsed[key] = parse_rate(text)
        except ValueError:
            raise _refuse(name, value, what) from None
    return parsed
