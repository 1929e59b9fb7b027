"""The gateway on Kubernetes: the kustomize base `opsctl init DIR --target k8s`
writes (`render`, `template/`) and the audit of rendered manifests from any
source (`manifests` loads a multi-document stream with lines, `audit` runs the
runbook's checks translated to Kubernetes objects, `sarif` renders them).

Imports: the base (errors, policy), `opsctl.stack.render` (the one LiteLLM
config template and its policy rendering, shared with the compose stack) and
`opsctl.audit`'s vocabulary and report (registry, runner, session). Never click.
"""
