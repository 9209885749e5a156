"""ML worker HTTP service: ``GET /health`` and a small job API (``POST /jobs``, ``GET /jobs/{id}``).

Jobs run in a thread (scikit-learn is CPU-bound) and are kept in memory; the bridge posts
the rows with the job because this worker needs no database access of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kaireon_mcp.mlworker.algorithms import frequency_bins, segment_clusters, tfidf_terms

__all__ = ["CAPABILITIES", "JobStore", "create_worker_app"]

log = logging.getLogger("kaireon_mcp.mlworker")

CAPABILITIES = ["policy_analysis", "segmentation", "content_analysis"]
RUNNERS: dict[str, Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]] = {
    "segments": segment_clusters,
    "policies": frequency_bins,
    "content": tfidf_terms,
}
MAX_JOBS = 1000


@dataclass
class JobStore:
    """In-memory jobs, oldest evicted first beyond ``MAX_JOBS``."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def add(self, job_type: str) -> dict[str, Any]:
        while len(self.jobs) >= MAX_JOBS:
            self.jobs.pop(next(iter(self.jobs)))
        job = {"jobId": f"job_{uuid.uuid4().hex[:20]}", "type": job_type, "status": "queued"}
        self.jobs[job["jobId"]] = job
        return job


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "VALIDATION" if status == 400 else "NOT_FOUND", "message": message}}, status
    )


async def _run(job: dict[str, Any], rows: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    job["status"] = "running"
    try:
        job["result"] = await asyncio.to_thread(RUNNERS[job["type"]], rows, settings)
        job["status"] = "completed"
    except Exception as exc:  # the edge: a failed job reports its error instead of crashing the worker
        log.exception("job %s failed", job["jobId"])
        job["status"], job["error"] = "failed", f"{exc.__class__.__name__}: {exc}"[:300]


def create_worker_app(store: JobStore | None = None) -> Starlette:
    jobs = store or JobStore()

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "capabilities": CAPABILITIES})

    async def submit(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "Invalid JSON body")
        if not isinstance(body, dict) or body.get("type") not in RUNNERS:
            return _error(400, f"type must be one of {', '.join(RUNNERS)}")
        rows = body.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return _error(400, "rows must be an array of objects")
        raw = body.get("settings")
        settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
        job = jobs.add(body["type"])
        task = asyncio.create_task(_run(job, rows, settings))
        jobs.tasks.add(task)
        task.add_done_callback(jobs.tasks.discard)
        return JSONResponse({"jobId": job["jobId"], "status": job["status"]}, status_code=202)

    async def get_job(request: Request) -> Response:
        job = jobs.jobs.get(request.path_params["job_id"])
        return JSONResponse(job) if job else _error(404, "job not found")

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/jobs", submit, methods=["POST"]),
            Route("/jobs/{job_id}", get_job, methods=["GET"]),
        ]
    )
    app.state.jobs = jobs
    return app
