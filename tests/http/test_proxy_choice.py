"""`transport="auto"` chooses by the proxy that applies to the base URL, not by whether any
proxy variable is set: `NO_PROXY` alone must keep the fast aiohttp transport."""

from __future__ import annotations

import httpx
import pytest

from llmkit.http import make_client
from llmkit.http.transport import AiohttpTransport

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
LOCAL = "http://127.0.0.1:8000/v1"
REMOTE = "http://10.9.8.7:8000/v1"


@pytest.fixture(params=["upper", "lower"])
def setenv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Set proxy variables in one case, with every proxy variable of either case cleared."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    def set_(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name.upper() if request.param == "upper" else name, value)

    return set_


def chosen(base_url: str) -> str:
    """The transport `make_client(base_url)` picks on asyncio: "aiohttp" or "httpx"."""
    client = make_client(base_url)
    if isinstance(client._transport, AiohttpTransport):
        return "aiohttp"
    assert isinstance(client._transport, httpx.AsyncHTTPTransport)
    return "httpx"


def test_no_proxy_alone_keeps_aiohttp(setenv):
    setenv(no_proxy="localhost,127.0.0.1")
    assert chosen(LOCAL) == "aiohttp"
    assert chosen("https://api.openai.com/v1") == "aiohttp"
    assert chosen("") == "aiohttp"  # any host, but no proxy to reach it through


def test_a_proxy_for_the_target_means_httpx(setenv):
    setenv(http_proxy="http://proxy.internal:3128", no_proxy="localhost,127.0.0.1")
    assert chosen(REMOTE) == "httpx"
    assert chosen("") == "httpx"


def test_a_target_named_in_no_proxy_keeps_aiohttp(setenv):
    setenv(http_proxy="http://proxy.internal:3128", no_proxy="localhost,127.0.0.1")
    assert chosen(LOCAL) == "aiohttp"
    assert chosen("http://localhost:11434") == "aiohttp"


def test_no_proxy_matches_domain_suffixes_and_ports(setenv):
    setenv(https_proxy="http://proxy.internal:3128", no_proxy=".corp.example,10.9.8.7:8443")
    assert chosen("https://llm.corp.example/v1") == "aiohttp"
    assert chosen("https://10.9.8.7:8443/v1") == "aiohttp"
    assert chosen("https://10.9.8.7:9443/v1") == "httpx"
    assert chosen("https://api.openai.com/v1") == "httpx"


def test_a_proxy_applies_to_its_scheme_and_all_proxy_to_every_scheme(setenv):
    setenv(http_proxy="http://proxy.internal:3128")
    assert chosen("https://api.openai.com/v1") == "aiohttp"  # HTTP_PROXY is for http:// only
    setenv(all_proxy="http://proxy.internal:3128")
    assert chosen("https://api.openai.com/v1") == "httpx"


def test_no_proxy_star_bypasses_every_proxy(setenv):
    setenv(all_proxy="http://proxy.internal:3128", no_proxy="*")
    assert chosen(REMOTE) == "aiohttp"


def test_forcing_a_transport_ignores_the_environment(setenv):
    setenv(http_proxy="http://proxy.internal:3128")
    assert isinstance(make_client(REMOTE, transport="aiohttp")._transport, AiohttpTransport)
    setenv(no_proxy="10.9.8.7")
    assert not isinstance(make_client(REMOTE, transport="httpx")._transport, AiohttpTransport)
