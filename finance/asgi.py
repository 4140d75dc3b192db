"""ASGI entry point for uvicorn: ``finance.asgi:app``."""

from finance.app import create_app

app = create_app()
