"""The sandbox's HTTP face: UltraCart's Workflow API under /rest/v2, plus /_sandbox helpers.

`create_app` opens (and seeds) the database and wires the routes: /rest/v2 goes through one pipeline
(`rest.RestApi`) to the handlers of `routes/` by the table in `operations`; /_sandbox serves the stats,
and the upload and download URLs of attachments.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .asgi import RequestIdMiddleware, error_response
from .calls import Sandbox
from .config import SandboxConfig
from .limits import LeakyBuckets, Stats
from .rest import RestApi
from .route_table import OPERATION_IDS, OPERATIONS
from .routes.attachments import file_routes
from .store.database import Database

__all__ = ["OPERATIONS", "OPERATION_IDS", "create_app"]


def _rest_route(api: RestApi) -> Route:
    """Everything under /rest/v2, control characters included: Starlette's ``{...:path}`` is ``.*``, which
    stops at a newline, so a task uuid or object id with ``%0A`` would get a 404 that UltraCart never
    answers instead of the pipeline's own answer (400 "Workflow task not found" for a task)."""
    route = Route("/rest/v2/{rest:path}", api)
    route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    return route


def create_app(config: SandboxConfig) -> Starlette:
    """Open (and seed on first use) the database, and build the app."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uc-sandbox-db")
    database = Database(config.resolved_db_path())
    executor.submit(database.initialise, config.reset, config.seed_tasks).result()
    sb = Sandbox(
        config=config,
        database=database,
        executor=executor,
        stats=Stats(OPERATION_IDS),
        buckets=LeakyBuckets(config.rate_limit),
        rng=random.Random(config.seed),
    )

    async def stats(request: Request) -> Response:
        return JSONResponse(sb.stats.snapshot())

    async def stats_reset(request: Request) -> Response:
        sb.stats.reset()
        return JSONResponse(sb.stats.snapshot())

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return error_response(status, f"No such resource: {request.url.path}")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.wrap_future(executor.submit(database.close))
        executor.shutdown(wait=False)

    routes = [
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/stats/reset", stats_reset, methods=["POST"]),
        *file_routes(sb),
        _rest_route(RestApi(sb)),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.sandbox = sb
    return app
