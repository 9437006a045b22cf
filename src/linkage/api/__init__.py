"""The HTTP API for the civil-affairs portal (``pip install linkage[api]``).

Nothing is built at import time: ``create_app(settings)`` makes the app, ``serve`` runs it.
"""
