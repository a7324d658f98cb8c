"""Beat runs the stale-list sweep every 15 seconds (editable in the admin under Periodic tasks)."""

from django.db import migrations

NAME = "Refresh lists noted stale"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=15, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME, defaults={"task": "recommendations.refresh_stale_sweep", "interval": every, "kwargs": "{}"}
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0005_packed_lists"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
