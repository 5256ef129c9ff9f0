"""uvicorn+FastAPI peer for tests/bench/bench_async.sh.

GET /proxy  an `async def` endpoint doing the same upstream call as
            plughost's async `proxy` plugin:
              MODE=aiohttp  (default) GET UPSTREAM with aiohttp's client
                            (Debian's python3-aiohttp), one ClientSession
                            for the app, keep-alive pool of at most
                            POOL_LIMIT connections (default 256, the same
                            bound as plughost's fetch per upstream); relays
                            status, Content-Type and body.
              MODE=sleep    the stand-in when no async HTTP client is
                            installed: `await asyncio.sleep(LATENCY)` and a
                            small JSON, no upstream at all.
GET /hello  liveness.

Environment: UPSTREAM (http://127.0.0.1:PORT/slow), MODE, LATENCY (0.05),
POOL_LIMIT (256), TIMEOUT (seconds, 30).

Run (as the bench does):
  UPSTREAM=http://127.0.0.1:18681/slow python3 -m uvicorn fastapi_proxy:app \
      --app-dir tests/bench/async --host 127.0.0.1 --port PORT \
      --workers 1 --no-access-log --log-level warning
"""
import asyncio
import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response

MODE = os.environ.get("MODE", "aiohttp")
UPSTREAM = os.environ.get("UPSTREAM", "")
LATENCY = float(os.environ.get("LATENCY", "0.05"))
POOL_LIMIT = int(os.environ.get("POOL_LIMIT", "256"))
TIMEOUT = float(os.environ.get("TIMEOUT", "30"))

if MODE == "aiohttp":
    import aiohttp  # python3-aiohttp

app = FastAPI()
state = {}


@app.on_event("startup")
async def startup():
    if MODE == "aiohttp":
        if not UPSTREAM:
            raise RuntimeError("UPSTREAM is not set")
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL_LIMIT),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            auto_decompress=False,
        )


@app.on_event("shutdown")
async def shutdown():
    session = state.pop("session", None)
    if session is not None:
        await session.close()


@app.get("/hello", response_class=PlainTextResponse)
async def hello():
    return "Hello, World!"


@app.get("/proxy")
async def proxy():
    if MODE != "aiohttp":
        await asyncio.sleep(LATENCY)
        return {"message": f"Async response after {LATENCY:g} seconds"}
    try:
        async with state["session"].get(UPSTREAM) as resp:
            body = await resp.read()
            return Response(content=body, status_code=resp.status,
                            media_type=resp.headers.get("Content-Type"))
    except asyncio.TimeoutError:
        return JSONResponse({"error": "gateway timeout"}, status_code=504)
    except aiohttp.ClientError as exc:
        return JSONResponse({"error": f"bad gateway: {exc}"}, status_code=502)
