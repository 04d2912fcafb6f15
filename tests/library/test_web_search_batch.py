"""web_search sends a micro-batch's queries side by side, and one failing query fails only
its own item: the others are answered, and a retryable failure is retried for that query."""

from __future__ import annotations

import anyio

from llmkit.core.pipeline import Pipeline
from llmkit.core.retry import Retry
from llmkit.errors import NodeError, RetryableError
from llmkit.nodes.backends.nodes import WebSearchNode


class ScriptedClient:
    """Fails `broken` queries for good and `flaky` ones once; records the peak in flight."""

    def __init__(self) -> None:
        self.broken, self.flaky = {"q3"}, {"q5"}
        self.attempts: dict[str, int] = {}
        self.in_flight = self.peak = 0

    async def asearch(self, query: str, *, k: int) -> list[dict]:
        self.attempts[query] = self.attempts.get(query, 0) + 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await anyio.sleep(0.01)
        finally:
            self.in_flight -= 1
        if query in self.broken:
            raise ValueError(f"no results for {query}")
        if query in self.flaky and self.attempts[query] == 1:
            raise RetryableError("busy")
        return [{"id": query, "score": 1.0, "text": query, "metadata": {}}]


def test_one_failing_query_fails_only_its_item_and_a_flaky_one_is_retried():
    client = ScriptedClient()
    node = WebSearchNode(client=client, k=1).configure(retry=Retry(attempts=2, backoff=0.001))
    p = Pipeline("web", inputs=["query"]).add("web", node, query="query")
    p.outputs(hits="web.hits")
    results = p.run_many([{"query": f"q{i}"} for i in range(8)], on_error="return")
    assert isinstance(results[3], NodeError) and "no results for q3" in str(results[3])
    assert [r["hits"][0]["id"] for i, r in enumerate(results) if i != 3] == \
        [f"q{i}" for i in range(8) if i != 3]
    assert client.attempts["q5"] == 2 and client.attempts["q0"] == 1
    assert client.peak == 8  # one call, its queries side by side
