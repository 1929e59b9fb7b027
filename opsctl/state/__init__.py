"""Declarative state: the gateway's teams, virtual keys and DB-stored models as one
reviewed YAML file, with `export`, `diff` and `apply` (plan, then only the writes
that close the difference).

document (the file format and its JSON Schema, opsctl/data/state-v1.schema.json)
and secret_params (which litellm_params are secrets) -> live (reading the gateway)
-> diff (object by object, field by field, the plan) -> apply (dependency order,
prune rules, keys output, before-state) ; export (the live gateway as a file).

Objects opsctl creates or adopts carry a marker (`opsctl_managed: true` in a
key's or team's metadata, in a model's model_info); `--prune` deletes only
marked objects that the file no longer names.

Imports the admin capability (client, keys, teams, models) and the base
(errors, files, policy, redact, settings); no click.
"""
