"""Reading settings from the environment, strictly.

A value that does not parse stops the process at start-up with ImproperlyConfigured
naming the variable and the value: `DEBUG=ture` is refused rather than read as off.
(django-environ reads any boolean it does not know as false, which is why this small
reader exists.) Ranges are checked by system checks (`gradefreeze.checks`), which
`manage.py check` and the workers run.
"""

import math
import os
from collections.abc import Iterable

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
