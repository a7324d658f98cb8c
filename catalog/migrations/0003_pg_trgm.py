"""pg_trgm and a trigram index on the normalised titles for typo-tolerant title search on PostgreSQL;
both are no-ops on other databases (SQLite scores titles in Python instead, see catalog/search.py)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEX = "catalog_movie_search_title_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON catalog_movie USING gin (search_title gin_trgm_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_movie_rating_sum_half")]

    operations = [TrigramExtension(), migrations.RunPython(create_index, drop_index)]
