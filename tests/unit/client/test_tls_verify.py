"""A client of a plain-http API skips loading the CA bundle, and still never trusts TLS blindly."""

from __future__ import annotations

import ssl

from bacalao.client import Client
from bacalao.client._base import tls_verify


def test_http_api_gets_a_context_that_trusts_no_ca() -> None:
    ctx = tls_verify("http://127.0.0.1:1234")
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 0  # nothing loaded: an https peer would fail


def test_https_api_keeps_httpx_default_verification() -> None:
    assert tls_verify("https://bacalao.example:443") is True
    assert tls_verify("HTTPS://bacalao.example") is True


def test_clients_build_with_it() -> None:
    with Client("http://127.0.0.1:9") as client:
        assert client.api == "http://127.0.0.1:9"
