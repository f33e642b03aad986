"""``picfind serve``: a local web page and a REST API over an index.

Needs the ``web`` extra (``pip install 'picfind[web]'``): FastAPI and uvicorn.
"""

from picfind.web.app import Settings, create_app

__all__ = ["Settings", "create_app"]
