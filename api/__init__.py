"""The HTTP API over the registry (FastAPI): :func:`api.main.create_app` builds it."""
