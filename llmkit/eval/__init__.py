"""`llmkit eval`: how well pipelines retrieve and answer, measured on a labelled set of
questions (`dataset`), scored by pure functions (`metrics`) or an LLM judge (`judge`), run
on each pipeline's shared scheduler (`runner`) and shown side by side (`report`, `chart`).
docs/retrieval.md, "Measuring quality", is the guide.
"""

from llmkit.eval.dataset import Example, load_dataset
from llmkit.eval.runner import PipelineResult, evaluate

__all__ = ["Example", "PipelineResult", "evaluate", "load_dataset"]
