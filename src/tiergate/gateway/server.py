"""Running the gateway under uvicorn, optionally with the simulated fleet beside it.

``serve()`` runs in one event loop (uvloop when installed): the fleet's sites, when
asked for, then uvicorn with httptools. uvicorn turns SIGTERM and SIGINT into a
graceful shutdown, whose last step closes the runtime, which flushes the ledger.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

import uvicorn

from tiergate.classify.intent import IntentModelError
from tiergate.config import Config, simulated_providers
from tiergate.errors import StartupError
from tiergate.gateway.app import build_app
from tiergate.gateway.runtime import Runtime
from tiergate.loop import run as run_loop

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    sim: bool = False
    sim_base_port: int = 9100
    sim_seed: int = 0
    rebuild_for_fleet: bool = False


def with_fleet_endpoints(config: Config, endpoints: list) -> Config:  # type: ignore[type-arg]
    """The config with its providers replaced by the running fleet's endpoints."""
    from tiergate.config import parse_config

    data = config.model_dump(exclude={"providers"})
    data["providers"] = simulated_providers(endpoints=endpoints)
    return parse_config(data, "(defaults for the running fleet)")


async def serve(config: Config, options: ServeOptions) -> None:
    """Serve until SIGTERM/SIGINT; with ``options.sim`` the fleet runs in-process."""
    fleet = None
    if options.sim:
        from tiergate.sim import Fleet

        try:
            fleet = Fleet(base_port=options.sim_base_port, seed=options.sim_seed)
            await fleet.start()
        except (OSError, ValueError) as error:
            raise StartupError(f"--sim-base-port: {error}") from error
        if options.rebuild_for_fleet:
            config = with_fleet_endpoints(config, fleet.endpoints)

    try:
        try:
            runtime = Runtime(config)
        except IntentModelError as error:
            raise StartupError(f"classifier.model_path: {error}") from error
        await _start(runtime)
        # Closing (which flushes the ledger) must happen in the lifespan shutdown:
        # uvicorn re-raises SIGTERM as soon as serve() returns, so code after it
        # would never run.
        app = build_app(runtime, start_runtime=False)
        _tune_gc()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=options.host,
                port=options.port,
                loop="none",
                http="httptools",
                ws="none",
                lifespan="on",
                access_log=False,
                log_level="warning",
                timeout_keep_alive=30,
                proxy_headers=False,
                server_header=False,
                date_header=False,
                backlog=4096,
            )
        )
        await server.serve()
    finally:
        if fleet is not None:
            await fleet.stop()


def run(config: Config, options: ServeOptions) -> None:
    """Blocking entry point used by ``tiergate serve``."""
    run_loop(serve(config, options))


async def _start(runtime: Runtime) -> None:
    """Start the runtime, turning an unreachable ledger or Redis into one clear
    ``StartupError`` instead of a traceback from deep in a driver."""
    from redis.exceptions import RedisError

    from tiergate.ledger.store import LedgerOpenError

    try:
        await runtime.start()
    except LedgerOpenError as error:
        await runtime.close()
        raise StartupError(str(error)) from error
    except (RedisError, OSError) as error:
        await runtime.close()
        raise StartupError(
            "state.backend is redis but Redis at state.redis_url does not answer: "
            f"{error}"
        ) from error


def _tune_gc() -> None:
    """Move everything built at start (catalog, classifier, pools) out of the
    collector's sight and collect young objects less often. A request allocates a
    few hundred short-lived objects, almost none in cycles, so the default gen0
    threshold (700) ran a collection every couple of requests; this cuts the
    gateway's CPU per request and its pause-driven tail latency."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
