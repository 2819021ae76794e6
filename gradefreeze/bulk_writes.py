"""Many rows in one statement, for the freeze's set-based writes.

The rows travel as one JSON document that the database expands into records
(PostgreSQL's jsonb_to_recordset, SQLite's json_each), so a chunk of a thousand
learners costs one statement per table: no model instances, no per-value quoting in
Python, no round trip per row.
"""

import json

from django.db import connection, models

# Rows a statement carries: a final grade's archive row is about 300 bytes of JSON, so
# 50,000 of them make a document of about 15 MB, far under PostgreSQL's 256 MB.
ROWS_PER_STATEMENT = 50_000


def _to_json(field):
    """How a value of the field goes into the JSON document (None: as it is)."""
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "postgresql":
            return lambda value: None if value is None else value.isoformat()
        return lambda value: (
            None if value is None else connection.ops.adapt_datetimefield_value(value)
        )
    return None


def _records(fields):
    """SQL for the JSON document's records, as a FROM clause and the selected columns."""
    if connection.vendor == "postgresql":
        types = ", ".join(f"{field.column} {field.db_type(connection)}" for field in fields)
        return (
            f"jsonb_to_recordset(%s::jsonb) AS record({types})",
            [f"record.{field.column}" for field in fields],
        )
    if connection.vendor == "sqlite":
        return (
            "json_each(%s)",
            [
                # A JSON null is SQL NULL, as a JSONField saves None.
                f"nullif(value -> '$.{field.column}', 'null')"
                if isinstance(field, models.JSONField)
                else f"value ->> '$.{field.column}'"
                for field in fields
            ],
        )
    raise NotImplementedError(f"set-based writes on {connection.vendor}")


def _document(fields, rows):
    """The rows (dicts keyed by field name) as the JSON document `_records` expands."""
    names = [(field.name, field.column) for field in fields]
    converted = [
        (field.name, field.column, convert) for field in fields if (convert := _to_json(field))
    ]
    records = []
    for row in rows:
        record = {column: row[name] for name, column in names}
        for name, column, convert in converted:
            record[column] = convert(row[name])
        records.append(record)
    return json.dumps(records)


def insert_rows(model, rows, conflict=(), update=(), returning=()):
    """INSERT `rows` (dicts keyed by field name, all with the same keys) into the
    model's table. With `conflict` (the field names of a unique constraint), a row
    already there gets the `update` fields, or is left alone when `update` is empty.
    Returns the `returning` columns of the rows written, as tuples.

    One statement for every ROWS_PER_STATEMENT rows: PostgreSQL refuses a JSON document
    past 256 MB (a revert of 1,000,000 final grades was refused). Call inside a
    transaction for all of them or none. The rows must not repeat a `conflict` key.
    Model signals do not run.
    """
    if not rows:
        return []
    fields = [model._meta.get_field(name) for name in rows[0]]
    columns = ", ".join(field.column for field in fields)
    source, selected = _records(fields)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {', '.join(selected)} FROM {source}"
    )
    if connection.vendor == "sqlite":
        sql += " WHERE true"  # lets SQLite read ON CONFLICT after a SELECT
    if conflict:
        target = ", ".join(model._meta.get_field(name).column for name in conflict)
        if update:
            assignments = ", ".join(
                f"{column} = excluded.{column}"
                for column in (model._meta.get_field(name).column for name in update)
            )
            sql += f" ON CONFLICT ({target}) DO UPDATE SET {assignments}"
        else:
            sql += f" ON CONFLICT ({target}) DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(returning)
    written = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            cursor.execute(sql, [_document(fields, rows[start : start + ROWS_PER_STATEMENT])])
            if returning:
                written += cursor.fetchall()
    return written


def update_rows(model, rows, key="id"):
    """UPDATE the model's rows whose `key` field matches each of `rows` (dicts keyed by
    field name, all with the same keys, `key` among them) with the other fields, in one
    statement: all of them or none. Returns how many rows were updated. Model signals
    do not run; auto_now fields are not set unless given.

    Django's bulk_update builds a CASE expression per field and row in Python, and took
    most of the token committer's time at fifty rows (measured with py-spy).
    """
    if not rows:
        return 0
    fields = [model._meta.get_field(name) for name in rows[0]]
    table = model._meta.db_table
    source, selected = _records(fields)
    by_name = dict(zip((field.name for field in fields), selected, strict=True))
    key_column = model._meta.get_field(key).column
    assignments = ", ".join(
        f"{field.column} = {by_name[field.name]}" for field in fields if field.name != key
    )
    sql = (
        f"UPDATE {table} SET {assignments} FROM {source} "
        f"WHERE {table}.{key_column} = {by_name[key]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_document(fields, rows)])
        return cursor.rowcount
