"""LiteLLM's admin HTTP API: the proxy client (errors, retries), virtual keys,
teams, and the key rows of bulk files.

client (ProxyClient, AsyncProxyClient, error mapping) -> teams, key_rows -> keys.
Imports only the base (opsctl.errors, opsctl.settings); no click, no other capability.
"""
