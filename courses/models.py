"""Programs, their courses and the course runs learners enroll in on edX."""

from django.db import models


class Program(models.Model):
    title = models.CharField(max_length=255, unique=True)

    def __str__(self) -> str:
        return self.title


class Course(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="courses")
    title = models.CharField(max_length=255)
    # Courses with a proctored exam take edX's `passed`; the others a certificate.
    has_exam = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "title"], name="course_unique_title"),
        ]

    def __str__(self) -> str:
        return self.title


class CourseRun(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="runs")
    title = models.CharField(max_length=255, blank=True)
    EDX_COURSE_KEY_MAX_LENGTH = 255
    edx_course_key = models.CharField(max_length=EDX_COURSE_KEY_MAX_LENGTH, unique=True)
    freeze_grade_date = models.DateTimeField(
        null=True, blank=True, help_text="UTC. Final grades are frozen once this date has passed."
    )

    AUTO = "auto"
    COURSE_WIDE = "course_wide"
    PER_LEARNER = "per_learner"
    FREEZE_MODE_CHOICES = [
        (AUTO, "as configured (FREEZE_MODE)"),
        (COURSE_WIDE, "course-wide, with the staff client"),
        (PER_LEARNER, "per learner, with each learner's token"),
    ]
    freeze_mode = models.CharField(
        max_length=16,
        choices=FREEZE_MODE_CHOICES,
        default=AUTO,
        help_text="How the freeze reads this run's grades from edX.",
    )

    def __str__(self) -> str:
        return self.edx_course_key

    @property
    def has_exam(self) -> bool:
        return self.course.has_exam
