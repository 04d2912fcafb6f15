"""Pipeline files: YAML read into a `Pipeline` (`load`) and written back (`dump`), the
format's keys (`format`), located parsing (`yaml`), resources (`resources`), and the type
names a file may use (`catalog`, the one place that loads the node library). docs/yaml.md
is the reference for the format.
"""

from llmkit.spec.dump import dump_pipeline
from llmkit.spec.load import MAX_FILE_BYTES, SPEC_VERSION, load_pipeline, scrub_secrets
from llmkit.spec.resources import resource

__all__ = [
    "MAX_FILE_BYTES",
    "SPEC_VERSION",
    "dump_pipeline",
    "load_pipeline",
    "resource",
    "scrub_secrets",
]
