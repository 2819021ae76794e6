import django.db.models.deletion
from django.db import migrations, models


def delivered_once(apps, schema_editor):
    """Chunks recorded so far had finished, after at least one delivery."""
    Chunk = apps.get_model("grades", "Chunk")
    Chunk.objects.update(deliveries=1)


class Migration(migrations.Migration):
    dependencies = [("grades", "0004_round")]

    operations = [
        migrations.RenameModel("FinishedChunk", "Chunk"),
        migrations.RemoveConstraint(model_name="chunk", name="finishedchunk_once"),
        migrations.AddConstraint(
            model_name="chunk",
            constraint=models.UniqueConstraint(
                fields=("grading_status", "round", "index"), name="chunk_one_per_round_index"
            ),
        ),
        migrations.AlterField(
            model_name="chunk",
            name="grading_status",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="chunks",
                to="grades.courserungradingstatus",
            ),
        ),
        migrations.AlterField(
            model_name="chunk",
            name="finished_on",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="chunk",
            name="deliveries",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="chunk",
            name="beat_on",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(delivered_once, migrations.RunPython.noop),
        migrations.RenameField("courserungradingstatus", "progressed_on", "round_started_on"),
        migrations.AddField(
            model_name="courserungradingstatus",
            name="listing_beat_on",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
