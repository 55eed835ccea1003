"""The desk: Django project and its core app (users and roles, reference data, audit trail, pages)."""

from desk.celery import app as celery_app

__all__ = ("celery_app",)
