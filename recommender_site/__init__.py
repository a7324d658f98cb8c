# Load the Celery app with Django so @shared_task uses it and `celery -A recommender_site` finds it.
from .celery import app as celery_app

__all__ = ("celery_app",)
