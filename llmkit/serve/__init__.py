"""`llmkit serve`: pipelines as an HTTP service (docs/serve.md).

`app(pipelines)` is the ASGI app (`application`); `run` serves it with uvicorn (`server`).
The modules: `routes` (the pipelines' endpoints), `openai_compat` (chat completions and
models), `ops` (health, ready, metrics, OpenAPI), `schema` (the OpenAPI document), `errors`
(failures as status and JSON), `auth`, `limits`, `observe` (metrics and access log),
`metrics`, `bodies` (JSON, SSE, NDJSON), `service` (one app's state). Needs the `serve`
extra: `pip install 'llmkit[serve]'`.
"""

from llmkit.errors import require_extra

for _module in ("starlette", "uvicorn", "prometheus_client"):
    require_extra(_module, "serve")

from llmkit.serve.application import app  # noqa: E402

__all__ = ["app"]
