"""gradefreeze.env: the environment is read strictly; a bad value stops start-up, named."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from gradefreeze import env


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("ON", True), ("0", False), ("off", False)],
)
def test_a_boolean_is_one_of_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert env.boolean("SOME_FLAG", not expected) is expected


@pytest.mark.parametrize("value", ["ture", "", "2", "enabled"])
def test_a_boolean_misspelt_is_refused_with_its_name_and_value(monkeypatch, value):
    monkeypatch.setenv("SOME_FLAG", value)
    with pytest.raises(ImproperlyConfigured) as refused:
        env.boolean("SOME_FLAG", False)
    assert f"SOME_FLAG={value.strip()!r} is not a boolean" in str(refused.value)


def test_an_unset_variable_takes_the_default(monkeypatch):
    monkeypatch.delenv("SOME_NUMBER", raising=False)
    assert env.integer("SOME_NUMBER", 7) == 7
    assert env.number("SOME_NUMBER", 0.5) == 0.5


@pytest.mark.parametrize("value", ["ten", "1.5", "1e3", ""])
def test_a_whole_number_that_does_not_parse_is_refused(monkeypatch, value):
    monkeypatch.setenv("SOME_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match="is not a whole number"):
        env.integer("SOME_NUMBER", 1)


@pytest.mark.parametrize("value", ["nan", "inf", "fast"])
def test_a_number_must_be_finite(monkeypatch, value):
    monkeypatch.setenv("SOME_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER"):
        env.number("SOME_NUMBER", 1.0)


def test_a_choice_outside_the_choices_names_them(monkeypatch):
    monkeypatch.setenv("FREEZE_MODE", "coursewide")
    with pytest.raises(ImproperlyConfigured) as refused:
        env.choice("FREEZE_MODE", "auto", ("auto", "course_wide", "per_learner"))
    assert "one of auto, course_wide, per_learner" in str(refused.value)


def test_a_list_drops_empty_items(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example.org, ,b.example.org,")
    assert env.items("ALLOWED_HOSTS") == ["a.example.org", "b.example.org"]
