"""gradefreeze: freezes final course grades taken from an Open edX LMS."""

from gradefreeze.celery import app as celery_app

__all__ = ["celery_app"]
