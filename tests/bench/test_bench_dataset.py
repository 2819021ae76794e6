"""The benchmark's dataset: what the sandbox serves and the platform is seeded with."""

import pytest
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from bench.seeding import RUN_KEY, SAMPLE_RUN_KEY, bench_learners, seed
from dashboard.edx_tokens import is_encrypted
from dashboard.models import CachedCurrentGrade, CachedEnrollment, LearnerRefresh
from grades.policy import compute_final_grade
from sandbox.dataset import load, record_course_id, validate


def _course_ids(learner, records):
    return [record_course_id(record) for record in learner[records]]


def test_the_sample_learners_are_also_enrolled_and_graded_in_the_sample_run():
    learners = [learner for _, learner in bench_learners(learners=20, sample=5)]
    for learner in learners[:5]:
        assert _course_ids(learner, "enrollments") == [RUN_KEY, SAMPLE_RUN_KEY]
        assert _course_ids(learner, "grades") == [RUN_KEY, SAMPLE_RUN_KEY]
    for learner in learners[5:]:
        assert _course_ids(learner, "enrollments") == [RUN_KEY]


def test_about_forty_percent_of_the_learners_pass():
    passed = sum(
        compute_final_grade(
            False,
            learner["grades"][0],
            learner["certificates"][0] if learner["certificates"] else None,
            learner["enrollments"][0],
        ).passed
        for _, learner in bench_learners(learners=2000, sample=0)
    )
    assert 0.37 <= passed / 2000 <= 0.43


@pytest.mark.django_db
@pytest.mark.integration  # COPY: PostgreSQL
def test_seeding_in_batches_writes_the_file_the_sandbox_serves_and_the_same_learners(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("bench.seeding.SEED_BATCH", 7)
    progress = []

    seeded = seed(30, 10, tmp_path / "data.json", progress.append)

    dataset = load(tmp_path / "data.json")
    assert dataset["course_runs"] == [RUN_KEY, SAMPLE_RUN_KEY]
    assert dataset["learners"] == load_learners(30, 10)
    assert progress[-1].startswith("seeding 30/30 ")
    assert len(progress) == 5
    assert set(seeded["runs"]) == {RUN_KEY, SAMPLE_RUN_KEY}
    usernames = list(get_user_model().objects.order_by("id").values_list("username", flat=True))
    assert usernames == list(dataset["learners"])
    # stored encrypted, read back as the tokens the sandbox knows
    stored = UserSocialAuth.objects.values_list("extra_data", flat=True)
    assert all(is_encrypted(data["refresh_token"]) for data in stored)
    links = UserSocialAuth.objects.all()
    assert {link.extra_data["refresh_token"] for link in links} == {
        learner["refresh_token"] for learner in dataset["learners"].values()
    }
    assert CachedEnrollment.objects.count() == CachedCurrentGrade.objects.count() == 40
    assert LearnerRefresh.objects.count() == 30


def load_learners(learners, sample):
    """The learners as the sandbox holds them once it has read and checked the file."""
    return validate({"learners": dict(bench_learners(learners, sample))})["learners"]
