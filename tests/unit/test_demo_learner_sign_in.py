"""The demo names a dataset learner a newcomer can sign in as, with the sandbox's password."""

import io
import json
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_seed_demo_prints_the_sign_in_of_a_learner_whose_tokens_edx_accepts(tmp_path):
    out = io.StringIO()
    data_file = tmp_path / "demo.json"

    call_command(
        "seed_demo", "--force", "--learners", "8", "--revoked", "4", "--out", str(data_file),
        stdout=out,
    )  # fmt: skip

    printed = re.search(r"^Learner sign-in .*: (\S+) / (\S+)$", out.getvalue(), re.MULTILINE)
    assert printed, out.getvalue()
    username, password = printed.groups()
    learner = json.loads(data_file.read_text())["learners"][username]
    assert not learner.get("revoked")
    assert password == learner.get("password", "edx")
