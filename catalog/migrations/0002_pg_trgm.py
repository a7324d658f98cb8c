"""pg_trgm for typo-tolerant title search on PostgreSQL; a no-op on other databases (SQLite scores
titles in Python instead, see catalog/search.py)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [TrigramExtension()]
