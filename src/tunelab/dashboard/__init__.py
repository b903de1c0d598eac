"""The dashboard: a web UI and a read-only JSON API over any store (``tunelab dashboard``).

Needs ``pip install 'tunelab[dashboard]'`` (FastAPI and uvicorn); plotly.js is served from
the package.
"""

from tunelab.dashboard._app import create_app
from tunelab.dashboard._serve import serve

__all__ = ["create_app", "serve"]
