"""Every command answers bad input with one clear line, and writes nothing.

Nothing written means no row added, changed or removed in any table of the
courses, dashboard and grades apps, nor among users and their edX links.
"""

import os

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from social_django.models import UserSocialAuth

from tests.factories import CourseRunFactory, FinalGradeFactory

pytestmark = pytest.mark.django_db

COURSE_RUN_COMMANDS = [
    "freeze_final_grades",
    "check_final_grade_freeze_status",
    "complete_course_run_freeze",
    "retry_failed_final_grades",
    "export_final_grades",
    "revert_final_grades",
]
EXISTING_KEY = "course-v1:MITx+Analog+Learning+200+Jan_2015"

BAD_KEYS = {
    "empty": "",
    "whitespace": " \t ",
    "too long": "course-v1:MITx+" + "x" * 300 + "+1T2026",
    "very long": "k" * 100_000,
    "NUL byte": "course-v1:MITx+Nul\x00+1T2026",
    "only NUL": "\x00",
    "newline inside": "course-v1:MITx+Two\nLines+1T2026",
    "escape sequence": "course-v1:MITx+\x1b[31mRed+1T2026",
    "zero-width space": "course-v1:MITx+Analog\u200b+Learning+200+Jan_2015",
    "lone surrogate": "course-v1:MITx+\udcff+1T2026",
    "unicode": "course-v1:MITx+Ünïcødé+数学+1T2026",
    "SQL": "course-v1:MITx+X+1T2026'; DROP TABLE courses_courserun; --",
    "SQL wildcard": "course-v1:MITx+%+_",
    "shell": "$(rm -rf ~)`id`;|&>",
    "old style, unknown": "MITx/6.002x/2012_Fall",
    "course-v1, unknown": "course-v1:MITx+Nope+1T2020",
    "other case": EXISTING_KEY.upper(),
}


def table_contents():
    """Every row of the tables a command could write, to compare before and after."""
    models = [
        model
        for label in ("courses", "dashboard", "grades")
        for model in apps.get_app_config(label).get_models()
    ] + [get_user_model(), UserSocialAuth]
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


@pytest.fixture
def nothing_written():
    """Some rows to leave untouched: a run with a final grade, and the contents before."""
    course_run = CourseRunFactory(edx_course_key=EXISTING_KEY)
    FinalGradeFactory(course_run=course_run)
    before = table_contents()
    yield
    assert table_contents() == before


def one_line(error):
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("command", COURSE_RUN_COMMANDS)
@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_bad_course_key_is_one_line(command, key):
    with pytest.raises(CommandError) as error:
        call_command(command, key)
    assert "course key" in one_line(error.value)


@pytest.mark.usefixtures("nothing_written")
def test_a_nul_byte_is_named_with_its_position():
    with pytest.raises(CommandError, match=r"character \(U\+0000\) at position 19"):
        call_command("freeze_final_grades", "course-v1:MITx+Nul\x00+1T2026")


@pytest.mark.usefixtures("nothing_written")
def test_a_very_long_key_is_not_echoed():
    with pytest.raises(CommandError) as error:
        call_command("freeze_final_grades", "k" * 100_000)
    assert one_line(error.value) == (
        "The edX course key is 100000 characters long; course keys have at most 255."
    )


@pytest.mark.usefixtures("nothing_written")
def test_a_key_in_another_case_suggests_the_right_one():
    with pytest.raises(CommandError) as error:
        call_command("check_final_grade_freeze_status", EXISTING_KEY.lower())
    assert f"Did you mean {EXISTING_KEY!r}? Keys are case-sensitive." in one_line(error.value)


def test_an_old_style_key_of_a_known_run_is_found(capsys):
    CourseRunFactory(edx_course_key="MITx/6.002x/2012_Fall")
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_final_grade_freeze_status", " MITx/6.002x/2012_Fall ")
    assert exit_status.value.code == 3
    assert "Course run MITx/6.002x/2012_Fall: not started" in capsys.readouterr().out


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("command", COURSE_RUN_COMMANDS)
@pytest.mark.parametrize(
    "args",
    [
        [EXISTING_KEY, "--bogus"],
        [EXISTING_KEY, "--bogus=1"],
        [EXISTING_KEY, "second-key"],
        [],
        ["--verbosity", "7", EXISTING_KEY],
        ["--verbosity", "loud", EXISTING_KEY],
    ],
    ids=["unknown option", "unknown option=value", "two keys", "no key", "verbosity 7", "words"],
)
def test_bad_arguments_are_one_line(command, args):
    with pytest.raises(CommandError, match="^Error: "):
        call_command(command, *args)


def seed_demo(*args):
    return call_command("seed_demo", "--force", *args)


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--learners", "0"], "--learners must be between 1 and 1,000,000."),
        (["--learners", "-5"], "--learners must be between 1 and 1,000,000."),
        (["--learners", "1000000000"], "--learners must be between 1 and 1,000,000."),
        (["--learners", "abc"], "Error: argument --learners: invalid int value: 'abc'"),
        (["--learners", "1.5"], "Error: argument --learners: invalid int value: '1.5'"),
        (["--learners", "5", "--revoked", "6"], "--revoked must be between 0 and --learners."),
        (["--revoked", "-1"], "--revoked must be between 0 and --learners."),
        (["--seed", "1e3"], "Error: argument --seed: invalid int value: '1e3'"),
        (["--course-key", ""], "--course-key: The edX course key is empty."),
        (["--course-key", "a\x00b"], "--course-key: The edX course key 'a\\x00b' has a control"),
        (["--course-key", "x" * 256], "--course-key: The edX course key is 256 characters long"),
        (["--course-key", "course v1"], "The sandbox cannot serve this demo: course key 1:"),
        (["--out", "/nonexistent-folder/demo.json"], "The folder of --out does not exist"),
        (["--out", "/tmp"], "--out is a folder, not a file: '/tmp'"),
        (["--out", "demo\x00.json"], "--out is not a file path: 'demo\\x00.json'"),
        (["--out", " "], "--out is not a file path: ' '"),
        (["--unknown"], "Error: unrecognized arguments: --unknown"),
    ],
)
def test_seed_demo_bad_input_is_one_line(args, message):
    with pytest.raises(CommandError) as error:
        seed_demo(*args)
    assert one_line(error.value).startswith(message)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("nothing_written")
def test_seed_demo_seeds_nothing_when_the_data_file_cannot_be_written(tmp_path):
    dangling = tmp_path / "demo.json"
    os.symlink(tmp_path / "gone" / "demo.json", dangling)
    with pytest.raises(CommandError, match="^Cannot write --out '.*demo.json': No such file"):
        seed_demo("--learners", "3", "--revoked", "0", "--out", str(dangling))


@pytest.mark.usefixtures("nothing_written")
def test_seed_demo_refuses_a_database_other_than_sqlite_without_force():
    if connection.vendor == "sqlite":
        pytest.skip("the embedded SQLite database is the one seed_demo seeds")
    with pytest.raises(CommandError, match="runs on the embedded SQLite database only"):
        call_command("seed_demo")
