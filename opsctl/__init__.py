"""opsctl: the ops toolkit for a hardened self-hosted LiteLLM gateway."""

__version__ = "0.1.0"
