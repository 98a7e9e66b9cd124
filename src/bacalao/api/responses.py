"""The API's JSON response: Starlette's, written by orjson (the same compact UTF-8 text)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse as _StarletteJSON

from bacalao import jsonfast


class JSONResponse(_StarletteJSON):
    def render(self, content: Any) -> bytes:
        return jsonfast.dumps_bytes(content)
