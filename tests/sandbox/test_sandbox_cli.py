"""The command line: `python -m sandbox serve` and `python -m sandbox generate`."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from edx_api.client import EdxApi

import sandbox

PROJECT = Path(sandbox.__file__).resolve().parents[1]
ANALOG = "course-v1:MITx+Analog+Learning+200+Jan_2015"


def run_cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *map(str, args)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sandbox: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_serve_with_a_missing_file_exits_2_with_one_line(tmp_path):
    result = run_cli("serve", "--data", tmp_path / "absent.json", "--port", 0)

    assert_one_line_error(result, "absent.json", "no such file")


def test_serve_with_invalid_json_exits_2_with_one_line(tmp_path):
    data = tmp_path / "broken.json"
    data.write_text('{"learners": {')

    result = run_cli("serve", "--data", data, "--port", 0)

    assert_one_line_error(result, "not valid JSON", "line 1")


def test_serve_with_a_wrongly_shaped_file_names_the_learner_and_field(tmp_path):
    data = tmp_path / "shape.json"
    data.write_text(json.dumps({"learners": {"alice": {"email": "a@example.com"}}}))

    result = run_cli("serve", "--data", data, "--port", 0)

    assert_one_line_error(result, "learners.alice.access_token")


@pytest.mark.parametrize(
    "args",
    [
        ("serve",),
        ("serve", "--data", "x.json", "--latency-ms", "-5"),
        ("serve", "--data", "x.json", "--throttles", "some"),
        ("generate", "--out", "x.json", "--no-certificate-share", "2"),
        ("fly",),
    ],
)
def test_bad_options_exit_2_with_one_line(args):
    assert_one_line_error(run_cli(*args))


def test_generate_with_impossible_numbers_exits_2_with_one_line(tmp_path):
    result = run_cli("generate", "--out", tmp_path / "d.json", "--learners", 5, "--revoked", 9)

    assert_one_line_error(result, "revoked")


@pytest.mark.parametrize("command", ["serve", "generate"])
def test_help_describes_each_command(command):
    result = run_cli(command, "--help")

    assert result.returncode == 0
    assert "--latency-ms" in result.stdout or "--no-certificate-share" in result.stdout


def test_generate_is_deterministic_for_a_seed(tmp_path):
    paths = [tmp_path / name for name in ("a.json", "b.json", "c.json")]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        assert run_cli("generate", "--out", path, "--learners", 40, "--seed", seed).returncode == 0

    a, b, c = (path.read_bytes() for path in paths)
    assert a == b
    assert a != c


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_loads_what_generate_wrote_and_stops_on_a_signal(tmp_path, stop_signal):
    data = tmp_path / "generated.json"
    run_cli("generate", "--out", data, "--learners", 12, "--revoked", 0)
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data", data, "--port", "0"],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = server.stdout.readline()
        url = re.search(r"on (http://\S+) ", banner).group(1)
        api = EdxApi({"access_token": "at-learner00007-0"}, base_url=url, timeout=5)
        grade = api.current_grades.get_student_current_grade("learner00007", ANALOG)
    finally:
        server.send_signal(stop_signal)
        returncode = server.wait(timeout=10)

    assert re.match(
        r"sandbox: serving 12 learners, 1 course run on http://\S+ \(latency 0 ms\)$", banner
    )
    assert grade.username == "learner00007"
    assert returncode == 0


def serve_and_read_settings(tmp_path, *options):
    data = tmp_path / "generated.json"
    run_cli("generate", "--out", data, "--learners", 3, "--revoked", 0)
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data", data, "--port", "0", *options],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"on (http://\S+) ", server.stdout.readline()).group(1)
        return requests.get(f"{url}/_sandbox/settings", timeout=5).json()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def test_serve_has_edx_throttles_by_default(tmp_path):
    settings = serve_and_read_settings(tmp_path)

    assert settings["throttles"] == "edx"
    assert settings["rates"] == {
        "enrollments_user": "40/minute",
        "enrollments_staff": "120/minute",
        "token": "120/m",
    }


def test_serve_options_change_the_throttles(tmp_path):
    settings = serve_and_read_settings(
        tmp_path, "--rate", "enrollments_staff=600/minute", "--token-rate", "off"
    )

    assert settings["rates"]["enrollments_staff"] == "600/minute"
    assert settings["rates"]["token"] == "off"


def test_serve_can_switch_the_throttles_off(tmp_path):
    assert serve_and_read_settings(tmp_path, "--throttles", "off")["throttles"] == "off"


@pytest.mark.parametrize("rate", ["enrollments_staff", "grades=1/m", "token=fast"])
def test_a_bad_rate_option_exits_2_with_one_line(tmp_path, rate):
    data = tmp_path / "generated.json"
    run_cli("generate", "--out", data, "--learners", 3, "--revoked", 0)

    result = run_cli("serve", "--data", data, "--port", 0, "--rate", rate)

    assert_one_line_error(result)
