"""PostgreSQL's COPY for unsaved model instances: the rows `bulk_create` would write, at
the speed of a bulk load (the benchmark seeds a million learners)."""

from collections.abc import Iterable

from django.db import connection, models


def copy_instances(model: type[models.Model], instances: Iterable[models.Model]) -> None:
    """COPY the instances into the model's table, every concrete field but an auto primary
    key, each value prepared as `bulk_create` prepares it (defaults, pre_save, the
    database's adaptation, e.g. JSON); in the caller's transaction, signals unsent."""
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField))
    ]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for instance in instances:
            copy.write_row(
                [
                    field.get_db_prep_save(field.pre_save(instance, True), connection)
                    for field in fields
                ]
            )
