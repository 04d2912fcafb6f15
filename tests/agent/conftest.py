"""Agent tests run against the fake server (scripted tool calls) in a real subprocess."""

from tests.servers.fixtures import fake_server, fake_server_process  # noqa: F401
