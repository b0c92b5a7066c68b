"""The fleet's admin API: switch faults at run time and read request counters.

Routes (JSON in and out, on the fleet's ``admin_url``):

- ``GET /healthz``: liveness of the fleet process.
- ``GET /admin/endpoints``: every endpoint, its base URL and whether it is up.
- ``GET /admin/faults``: the active fault rules, as a list.
- ``PUT /admin/faults``: replace the rules with a JSON list (or ``{"faults": [...]}``).
- ``POST /admin/faults``: add rules to the active ones.
- ``DELETE /admin/faults``: remove every rule (regions come back up).
- ``GET /admin/stats`` / ``DELETE /admin/stats``: read / reset the counters.

A rule list that does not validate gets a 400 whose message names the field, e.g.
``faults[0].error.status: Input should be greater than or equal to 400``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from tiergate.sim.faults import FaultError
from tiergate.sim.wire import SIMULATED_HEADERS, error_body

if TYPE_CHECKING:
    from tiergate.sim.fleet import Fleet

_JSON_HEADERS = {**SIMULATED_HEADERS, "Content-Type": "application/json"}


def admin_app(fleet: Fleet) -> web.Application:
    """The admin application controlling ``fleet``."""
    handlers = _AdminHandlers(fleet)
    app = web.Application()
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/admin/endpoints", handlers.endpoints)
    app.router.add_get("/admin/faults", handlers.get_faults)
    app.router.add_put("/admin/faults", handlers.put_faults)
    app.router.add_post("/admin/faults", handlers.post_faults)
    app.router.add_delete("/admin/faults", handlers.delete_faults)
    app.router.add_get("/admin/stats", handlers.get_stats)
    app.router.add_delete("/admin/stats", handlers.delete_stats)
    return app


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), headers=_JSON_HEADERS
    )


def _bad_request(message: str) -> web.Response:
    body = error_body(message, "invalid_request_error", "invalid_fault")
    return web.Response(status=400, body=body, headers=_JSON_HEADERS)


class _AdminHandlers:
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok", "simulated": True})

    async def endpoints(self, request: web.Request) -> web.Response:
        return _json(self._fleet.describe())

    async def get_faults(self, request: web.Request) -> web.Response:
        return _json(self._fleet.faults_json())

    async def put_faults(self, request: web.Request) -> web.Response:
        return await self._change(request, replace=True)

    async def post_faults(self, request: web.Request) -> web.Response:
        return await self._change(request, replace=False)

    async def delete_faults(self, request: web.Request) -> web.Response:
        await self._fleet.clear_faults()
        return _json(self._fleet.faults_json())

    async def get_stats(self, request: web.Request) -> web.Response:
        return _json(self._fleet.stats())

    async def delete_stats(self, request: web.Request) -> web.Response:
        self._fleet.reset_stats()
        return _json(self._fleet.stats())

    async def _change(self, request: web.Request, *, replace: bool) -> web.Response:
        try:
            raw = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _bad_request(f"fault rules must be JSON: {exc}")
        try:
            if replace:
                await self._fleet.set_faults(raw)
            else:
                await self._fleet.add_faults(raw)
        except FaultError as exc:
            return _bad_request(str(exc))
        return _json(self._fleet.faults_json())
