"""bacalao's HTTP API: Bacalhau v1 REST endpoints, bacalao's own, and an IPFS gateway.

See README.md for the contract. Build the app with :func:`create_app`.
"""

from bacalao.api.app import MAX_BODY_BYTES, create_app

__all__ = ["MAX_BODY_BYTES", "create_app"]
