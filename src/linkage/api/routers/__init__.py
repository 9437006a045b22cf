"""Routers: thin; parsing lives in ``intake``, storage in ``repo`` and ``keys``."""
