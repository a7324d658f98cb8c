"""The default schedules (editable in the admin under Periodic tasks): a nightly retrain and a
periodic refresh of every list. Created once; later edits in the admin are never overwritten."""

from django.db import migrations

SCHEDULES = [
    # (name, task, crontab minute, hour)
    ("Nightly retrain", "recommendations.retrain_scheduled", "30", "3"),
    ("Refresh every list", "recommendations.refresh_all", "0", "*/6"),
]


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute, hour in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab, "kwargs": "{}"})


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0002_cache_table"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
