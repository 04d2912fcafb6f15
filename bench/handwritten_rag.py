"""The RAG loop a developer writes by hand with asyncio, aiohttp and NumPy: what llmkit's
per-question cost is measured against (`python -m bench.batch_query --baseline`).

One question: one embedding request, a top-4 matrix product over the corpus vectors, the
same prompt as `pipelines/rag_openai.yaml`'s generate node, one chat request. Many
questions: `asyncio.gather` of the same, one embedding request each (a hand-written loop
does not batch across questions). It runs on an event loop in a thread of its own, called
from sync code as llmkit's sync API is, so the two pay the same bridge.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import numpy as np

from llmkit.nodes.generation.nodes import SYSTEM_PROMPT, USER_TEMPLATE

__all__ = ["HandwrittenRAG"]


class HandwrittenRAG:
    """`ask(question)` and `ask_many(questions)` against an OpenAI-compatible server."""

    def __init__(self, base_url: str, api_key: str, embed_model: str, chat_model: str,
                 texts: list[str], k: int = 4) -> None:
        self.base_url, self.k = base_url.rstrip("/"), k
        self.embed_model, self.chat_model = embed_model, chat_model
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.texts = texts
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="handwritten", daemon=True).start()
        self.session: aiohttp.ClientSession = self._call(self._open())
        self.vectors = self._call(self._embed(texts))

    def ask(self, question: str) -> str:
        return self._call(self._ask(question))

    def ask_many(self, questions: list[str]) -> list[str]:
        async def all_of() -> list[str]:
            return list(await asyncio.gather(*(self._ask(q) for q in questions)))

        return self._call(all_of())

    def close(self) -> None:
        self._call(self.session.close())
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _open(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers=self.headers,
                                     connector=aiohttp.TCPConnector(limit=0))

    async def _post(self, path: str, payload: dict[str, Any]) -> Any:
        async with self.session.post(f"{self.base_url}{path}", json=payload) as response:
            response.raise_for_status()
            return await response.json()

    async def _embed(self, texts: list[str]) -> np.ndarray:
        body = await self._post("/embeddings", {"model": self.embed_model, "input": texts})
        matrix = np.array([row["embedding"] for row in body["data"]], dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    async def _ask(self, question: str) -> str:
        vector = (await self._embed([question]))[0]
        scores = self.vectors @ vector
        top = np.argsort(-scores)[:self.k]
        context = "\n\n".join(f"[{n}] {self.texts[i]}" for n, i in enumerate(top, 1))
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": USER_TEMPLATE.format(question=question,
                                                                     context=context)}]
        body = await self._post("/chat/completions", {"model": self.chat_model,
                                                      "messages": messages})
        return body["choices"][0]["message"]["content"]
