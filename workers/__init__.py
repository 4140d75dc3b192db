"""Celery app, task modules and beat schedule: thin wrappers over the domain packages."""
