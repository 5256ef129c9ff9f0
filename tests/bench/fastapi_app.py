"""uvicorn+FastAPI peer for tests/bench/bench_core.sh (the seed scenario).

The seed's two endpoints, unchanged in spirit:
  GET /sync   a plain `def` endpoint; Starlette runs it in AnyIO's 40-thread
              pool, so time.sleep blocks one pool thread per request.
  GET /async  an `async def` endpoint awaiting asyncio.sleep on the loop.
plus GET /hello for a quick liveness check.

SECONDS (env, default 2) is the sleep of both slow endpoints.

Run (as the bench does):
  python3 -m uvicorn fastapi_app:app --app-dir tests/bench \
      --host 127.0.0.1 --port PORT --workers 1 --log-level warning --no-access-log
"""
import asyncio
import os
import time

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

SECONDS = float(os.environ.get("SECONDS", "2"))

app = FastAPI()


@app.get("/hello", response_class=PlainTextResponse)
async def hello():
    return "Hello, World!"


@app.get("/sync")
def sync():
    time.sleep(SECONDS)
    return {"message": f"Sync response after {SECONDS:g} seconds"}


@app.get("/async")
async def async_endpoint():
    await asyncio.sleep(SECONDS)
    return {"message": f"Async response after {SECONDS:g} seconds"}
