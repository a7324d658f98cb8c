"""The Celery app. Configuration lives in Django settings under CELERY_* (see settings/base.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recommender_site.settings.local")

app = Celery("recommender_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
