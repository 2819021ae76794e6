"""Bad input typed at a shell: `python manage.py ...` answers one line on stderr, exit 1.

The same checks as the unit tests, through real processes on PostgreSQL, where
argparse's usage dump and PostgreSQL's refusal of NUL bytes would otherwise show.
"""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.factories import FinalGradeFactory
from tests.integration.conftest import COURSE_KEY
from tests.unit.test_bad_command_input import COURSE_RUN_COMMANDS, table_contents

pytestmark = pytest.mark.integration

NO_KEY_COMMANDS = ("seed_demo", "reencrypt_edx_tokens", "check_edx_connection")
ALL_COMMANDS = [*COURSE_RUN_COMMANDS, *NO_KEY_COMMANDS]


@pytest.fixture
def unchanged(demo_run):
    """A run with a final grade; the test's commands must leave every table as it was."""
    FinalGradeFactory(course_run=demo_run)
    before = table_contents()
    yield
    assert table_contents() == before


def assert_one_line_error(result, starting):
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"CommandError: {starting}")


BAD_KEYS = [
    ("", "The edX course key is empty."),
    ("k" * 5000, "The edX course key is 5000 characters long"),
    ("course-v1:MITx+\x1b[2J+1T2026", "The edX course key 'course-v1:MITx+\\x1b[2J+1T2026'"),
    ("course-v1:MITx+\udcff+1T2026", "The edX course key 'course-v1:MITx+\\udcff+1T2026'"),
    ("MITx/6.002x/2012_Fall", "No course run has the edX course key 'MITx/6.002x/2012_Fall'"),
    ("course-v1:mitx+analog+learning+200+jan_2015", "No course run has the edX course key"),
    ("$(touch /tmp/pwned); '--", "No course run has the edX course key"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("command", "key", "message"),
    [
        (COURSE_RUN_COMMANDS[n % len(COURSE_RUN_COMMANDS)], key, message)
        for n, (key, message) in enumerate(BAD_KEYS)
    ],
    ids=["empty", "long", "escape", "undecodable byte", "old style", "other case", "shell"],
)
def test_a_bad_course_key(manage, command, key, message):
    """Each command gets some of the keys (the unit tests give each all of them)."""
    assert_one_line_error(manage(command, key), message)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_an_unknown_option(manage, command):
    key = [] if command in NO_KEY_COMMANDS else [COURSE_KEY]
    assert_one_line_error(manage(command, *key, "--bogus"), "unrecognized arguments: --bogus")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--verbosity", "9"], "argument -v/--verbosity: invalid choice: 9"),
        (["--no-color", "--force-color"], "The --no-color and --force-color options"),
    ],
    ids=["verbosity", "colors"],
)
def test_bad_django_options(manage, args, message):
    result = manage("freeze_final_grades", COURSE_KEY, *args)
    assert_one_line_error(result, message)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("command", COURSE_RUN_COMMANDS)
def test_a_missing_course_key(manage, command):
    result = manage(command)
    assert_one_line_error(result, "the following arguments are required: edx_course_key")
    assert result.stderr.strip().endswith(f"(see manage.py {command} --help)")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--force", "--learners", "many"], "argument --learners: invalid int value: 'many'"),
        (["--force", "--learners", "0"], "--learners must be between 1 and 1,000,000."),
        (["--force", "--course-key", "a\tb"], "--course-key: The edX course key 'a\\tb'"),
        (["--force", "--out", "/nonexistent-folder/x.json"], "The folder of --out does not exist"),
        ([], "seed_demo rewrites learners, tokens and a course run"),
    ],
    ids=["learners not a number", "no learners", "tab in key", "missing folder", "no --force"],
)
def test_seed_demo_bad_input(manage, args, message):
    assert_one_line_error(manage("seed_demo", *args), message)


@pytest.mark.usefixtures("unchanged")
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    command=st.sampled_from(COURSE_RUN_COMMANDS),
    key=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=80),
    option=st.none() | st.from_regex(r"\A--[a-z]{4,12}(=[ -~]{0,10})?\Z"),
)
def test_any_key_and_option_at_the_shell(manage, command, key, option):
    """Option names of four letters or more: none abbreviates --help, --version or --settings."""
    assume(not key.startswith("-") and key.strip() != COURSE_KEY)
    assume(
        option is None
        or not any(
            o.startswith(option.split("=")[0])
            for o in (
                "--help",
                "--version",
                "--settings",
                "--pythonpath",
                "--verbosity",
                "--traceback",
                "--no-color",
                "--force-color",
                "--skip-checks",
            )
        )
    )
    args = [key] if option is None else [option, key]
    result = manage(command, *args)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("CommandError: ")
