"""WSGI entry point: `gunicorn wsgi:app`."""
from momento import create_app

app = create_app()
