"""The ML worker: a separate Starlette service running scikit-learn analyses as jobs (spec section 6)."""

from kaireon_mcp.mlworker.app import create_worker_app

__all__ = ["create_worker_app"]
