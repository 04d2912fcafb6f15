import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    """Engine tests run on both backends anyio supports."""
    return request.param
