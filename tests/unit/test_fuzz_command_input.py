"""Whatever text the commands get as a course key or options, the answer is one line and
nothing is written."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.factories import CourseRunFactory, FinalGradeFactory
from tests.unit.test_bad_command_input import COURSE_RUN_COMMANDS, EXISTING_KEY, table_contents

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Any character at all, lone surrogates and NUL included, and keys shaped like edX's.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)
COURSE_KEYS = (
    ANY_TEXT
    | st.from_regex(r"\Acourse-v1:[^+]{0,20}\+[^+]{0,20}\+[^+]{0,20}\Z")
    | st.from_regex(r"\A[^/]{1,20}/[^/]{1,20}/[^/]{1,20}\Z")
    | st.sets(st.integers(0, len(EXISTING_KEY) - 1), min_size=1).map(
        lambda flipped: "".join(
            c.swapcase() if i in flipped else c for i, c in enumerate(EXISTING_KEY)
        )
    )
)


def prints_and_exits(option):
    """--help and --version (or their abbreviations) print and exit 0, as they should."""
    name = option.split("=", 1)[0]
    if name.startswith("--"):
        return len(name) > 2 and any(known.startswith(name) for known in ("--help", "--version"))
    return name.startswith("-h")


OPTIONS = st.builds(
    lambda dashes, name, value: dashes + name + value,
    st.sampled_from(["-", "--"]),
    ANY_TEXT,
    st.just("") | ANY_TEXT.map("=".__add__),
).filter(lambda option: not prints_and_exits(option))


@pytest.fixture
def run_with_a_final_grade():
    FinalGradeFactory(course_run=CourseRunFactory(edx_course_key=EXISTING_KEY))


def assert_one_line_and_nothing_written(command, args):
    before = table_contents()
    with pytest.raises(CommandError) as error:
        call_command(command, *args)
    message = str(error.value)
    assert message and "\n" not in message
    assert table_contents() == before


@pytest.mark.usefixtures("run_with_a_final_grade")
@pytest.mark.parametrize("command", COURSE_RUN_COMMANDS)
@FUZZ
@given(key=COURSE_KEYS)
def test_any_unknown_course_key(command, key):
    assume(key.strip() != EXISTING_KEY and not key.startswith("-"))
    assert_one_line_and_nothing_written(command, [key])


@pytest.mark.usefixtures("run_with_a_final_grade")
@pytest.mark.parametrize("command", COURSE_RUN_COMMANDS)
@FUZZ
@given(options=st.lists(OPTIONS, min_size=1, max_size=3), key=COURSE_KEYS)
def test_any_options_with_any_key(command, options, key):
    assume(key.strip() != EXISTING_KEY)
    assert_one_line_and_nothing_written(command, [*options, key])


@pytest.mark.usefixtures("run_with_a_final_grade")
@FUZZ
@given(
    option=st.sampled_from(["--learners", "--revoked", "--seed", "--course-key"]), value=ANY_TEXT
)
def test_seed_demo_with_any_value_of_an_option(option, value):
    """--out names a missing folder, checked after these: no value fuzzed here seeds anything."""
    assume(not value.startswith("-"))
    out = "/nonexistent-folder/demo.json"
    assert_one_line_and_nothing_written("seed_demo", ["--force", "--out", out, option, value])


@pytest.mark.usefixtures("run_with_a_final_grade")
@FUZZ
@given(out=ANY_TEXT)
def test_seed_demo_with_any_out(out, tmp_path, monkeypatch):
    """The course key has a space, which the sandbox refuses after --out is checked."""
    assume(not out.startswith("-"))
    monkeypatch.chdir(tmp_path)
    assert_one_line_and_nothing_written(
        "seed_demo", ["--force", "--learners", "1", "--course-key", "course v1", "--out", out]
    )
