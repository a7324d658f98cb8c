"""Create the database cache table (the embedded default's cache) as part of `migrate`.

`createcachetable` is idempotent and does nothing for non-database caches (Redis in production), so
running it here means no extra set-up step can be forgotten.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("recommendations", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop, elidable=False)]
