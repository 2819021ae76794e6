"""The benchmark's dataset: what the sandbox serves and the platform is seeded with."""

from bench.seeding import RUN_KEY, SAMPLE_RUN_KEY, bench_dataset
from grades.policy import compute_final_grade
from sandbox.dataset import record_course_id, validate


def _course_ids(learner, records):
    return [record_course_id(record) for record in learner[records]]


def test_the_sample_learners_are_also_enrolled_and_graded_in_the_sample_run():
    dataset = bench_dataset(learners=20, sample=5)
    learners = list(dataset["learners"].values())
    for learner in learners[:5]:
        assert _course_ids(learner, "enrollments") == [RUN_KEY, SAMPLE_RUN_KEY]
        assert _course_ids(learner, "grades") == [RUN_KEY, SAMPLE_RUN_KEY]
    for learner in learners[5:]:
        assert _course_ids(learner, "enrollments") == [RUN_KEY]


def test_about_forty_percent_of_the_learners_pass():
    dataset = bench_dataset(learners=2000, sample=0)
    passed = sum(
        compute_final_grade(
            False,
            learner["grades"][0],
            learner["certificates"][0] if learner["certificates"] else None,
            learner["enrollments"][0],
        ).passed
        for learner in dataset["learners"].values()
    )
    assert 0.37 <= passed / 2000 <= 0.43


def test_the_sandbox_accepts_the_dataset():
    dataset = validate(bench_dataset(learners=30, sample=10))

    assert dataset["course_runs"] == [RUN_KEY, SAMPLE_RUN_KEY]
