"""The reference stack: packaged templates and `opsctl init`'s renderer."""
