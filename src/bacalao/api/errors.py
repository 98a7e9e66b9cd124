"""Errors -> HTTP, in one place.

Every :class:`~bacalao.errors.BacalaoError` answers with its ``http_status`` and the one-line JSON
body ``{"code", "message", "hint", "retryable"}`` (``err.to_dict()``). Request validation failures
become a 400 with the same shape and a one-line message naming the parameter; unknown routes and
methods keep their 404/405 in that shape too; anything unexpected is a 500 whose body says only
"internal error" (the traceback goes to the server log, never to the client).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bacalao.api.responses import JSONResponse
from bacalao.errors import BacalaoError, InvalidInput

log = logging.getLogger(__name__)

_HTTP_CODES = {
    404: ("not_found", "check the URL: the API lives under /api/v1 (see /openapi.json)"),
    405: ("method_not_allowed", "see /openapi.json for the methods each path accepts"),
    413: ("too_large", "request bodies are limited to 10 MB"),
}


class PayloadTooLarge(BacalaoError):
    """A request body over the API's limit."""

    code = "too_large"
    http_status = 413


def error_response(err: BacalaoError) -> JSONResponse:
    """The HTTP answer for a BacalaoError: its status and its one-line JSON body."""
    return JSONResponse(err.to_dict(), status_code=err.http_status)


def validation_message(exc: RequestValidationError) -> str:
    """One line from pydantic's error list: ``query.limit: Input should be a valid integer``."""
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{loc}: {error.get('msg', 'invalid')}" if loc else error.get("msg", ""))
    return "; ".join(parts) or "invalid request"


async def _bacalao_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BacalaoError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        InvalidInput(validation_message(exc), hint="see /openapi.json for the request's shape")
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, hint = _HTTP_CODES.get(exc.status_code, ("http_error", None))
    err = BacalaoError(str(exc.detail), code=code, hint=hint, http_status=exc.status_code)
    response = error_response(err)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        BacalaoError("internal error", hint="this is a bug in bacalao: see the server's log")
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(BacalaoError, _bacalao_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
