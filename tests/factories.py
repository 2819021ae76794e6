"""factory_boy factories for the models the tests build on."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from courses.models import Course, CourseRun, Program
from dashboard.failures import Stage
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment
from grades.models import Chunk, CourseRunGradingStatus, FinalGrade, FreezeFailure


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    title = factory.Sequence(lambda n: f"Program {n}")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    program = factory.SubFactory(ProgramFactory)
    title = factory.Sequence(lambda n: f"Course {n}")
    has_exam = False


class CourseRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourseRun

    course = factory.SubFactory(CourseFactory)
    edx_course_key = factory.Sequence(lambda n: f"course-v1:MITx+Test{n}+1T2026")
    freeze_grade_date = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=1))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"learner{n:05d}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")


class CachedEdxDataFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    user = factory.SubFactory(UserFactory)
    course_run = factory.SubFactory(CourseRunFactory)
    refreshed_on = factory.LazyFunction(timezone.now)


class CachedEnrollmentFactory(CachedEdxDataFactory):
    class Meta:
        model = CachedEnrollment

    data = factory.LazyAttribute(
        lambda row: {
            "course_details": {"course_id": row.course_run.edx_course_key},
            "is_active": True,
            "mode": "verified",
            "user": row.user.username,
        }
    )


class CachedCurrentGradeFactory(CachedEdxDataFactory):
    class Meta:
        model = CachedCurrentGrade

    data = factory.LazyAttribute(
        lambda row: {
            "course_id": row.course_run.edx_course_key,
            "username": row.user.username,
            "passed": True,
            "percent": 0.8,
            "letter_grade": "Pass",
        }
    )


class CachedCertificateFactory(CachedEdxDataFactory):
    class Meta:
        model = CachedCertificate

    data = factory.LazyAttribute(
        lambda row: {
            "username": row.user.username,
            "course_id": row.course_run.edx_course_key,
            "certificate_type": "verified",
            "status": "downloadable",
        }
    )


class FinalGradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FinalGrade

    user = factory.SubFactory(UserFactory)
    course_run = factory.SubFactory(CourseRunFactory)
    grade = 0.8
    passed = True
    paid = True


class CourseRunGradingStatusFactory(factory.django.DjangoModelFactory):
    """A run whose first round has run to its end, still pending."""

    class Meta:
        model = CourseRunGradingStatus

    course_run = factory.SubFactory(CourseRunFactory)
    round = 1
    chunks_total = 1
    chunks_done = 1


class ChunkFactory(factory.django.DjangoModelFactory):
    """A chunk of a round, running: delivered once, its heartbeat fresh."""

    class Meta:
        model = Chunk

    grading_status = factory.SubFactory(CourseRunGradingStatusFactory)
    round = factory.SelfAttribute("grading_status.round")
    index = factory.Sequence(int)
    deliveries = 1
    beat_on = factory.LazyFunction(timezone.now)


class FreezeFailureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FreezeFailure

    grading_status = factory.SubFactory(CourseRunGradingStatusFactory)
    user = factory.SubFactory(UserFactory)
    stage = Stage.CACHE_REFRESH
    reason = "http_error"
    http_status = 500
