"""The clinician's screen in a browser (the ``needlescreen[web]`` extra): form, result, record, catalogue.

Served by ``needlescreen serve`` at ``/`` next to the JSON API: :func:`mount` adds the routes and the
package's own static files (no CDN: it works in a clinic without internet). The form is generated from
``rules/questionnaire.yaml`` through :class:`needlescreen.questionnaire.Questionnaire`, screens with the
service's screener, and shows the result through :func:`needlescreen.web.view.result_view`. Nothing in the
core imports this package.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from .templating import STATIC_DIR

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the web pages and their static files to the service's app."""
    from .routes import router

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
