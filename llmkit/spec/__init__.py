"""Pipeline files: YAML read into a `Pipeline` (`load`), written back (`dump`), their
format's keys (`format`), located parsing (`yaml`), and resources (`resources`). The spec
resolves type names, so it is what loads the node library (`lookup`); docs/yaml.md is the
reference for the format.
"""

from llmkit.spec.dump import dump_pipeline
from llmkit.spec.load import FORMAT_VERSION, MAX_FILE_BYTES, load_pipeline, scrub_secrets
from llmkit.spec.resources import resource

__all__ = [
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "dump_pipeline",
    "load_pipeline",
    "resource",
    "scrub_secrets",
]
