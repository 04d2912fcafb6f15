from tests.cli.conftest import llmkit  # noqa: F401
from tests.servers.fixtures import fake_server, fake_server_process  # noqa: F401
