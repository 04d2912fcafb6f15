"""A module that a pipeline file names as a resource type; tests check it is never imported
without permission (importing runs its top-level code)."""


class Probe:
    """A resource with no params."""

    def llmkit_fingerprint(self) -> dict:
        return {}
