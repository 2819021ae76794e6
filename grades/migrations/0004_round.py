from django.db import migrations, models


def fill_round_state(apps, schema_editor):
    """Rounds so far read the LMS as their freeze did; a course-wide freeze whose round
    was listed and finished had listed every page."""
    CourseRunGradingStatus = apps.get_model("grades", "CourseRunGradingStatus")
    CourseRunGradingStatus.objects.update(round_mode=models.F("mode"))
    CourseRunGradingStatus.objects.filter(
        mode="course_wide",
        round__gt=0,
        listed=True,
        chunks_done__gte=models.F("chunks_total"),
    ).update(fully_listed=True)


class Migration(migrations.Migration):
    dependencies = [("grades", "0003_freeze_mode")]

    operations = [
        migrations.RenameField("courserungradingstatus", "dispatch", "round"),
        migrations.AddField(
            model_name="courserungradingstatus",
            name="round_mode",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="courserungradingstatus",
            name="fully_listed",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="courserungradingstatus",
            name="listed",
            field=models.BooleanField(default=True, help_text="Every chunk of the round is known."),
        ),
        migrations.RunPython(fill_round_state, migrations.RunPython.noop),
    ]
