"""Compose projects on which our resolver must agree with the real `docker compose config` (tests/audit/test_compose_agreement.py).

Each case is a stack directory's files. The corpus holds every way the issue's
adversarial review got a non-hardened stack past the audit (extends from
another file, top-level include, override files, COMPOSE_FILE in .env,
interpolation tricks, `yes` for a boolean, a decoy service), and the parts of
Compose's rules the audit reads: interpolation, .env syntax, merging and
de-duplication, canonical ports, env_file, profiles. `refused` cases are ones
Compose refuses: ours must refuse them too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]
    refused: bool = False
    explicit: str | None = None  # -f / OPSCTL_COMPOSE_FILE
    notes: str = ""


LITELLM = "ghcr.io/berriai/litellm-database:main-v1.108.7"

CASES = [
    Case("extends-from-another-file-publishes-everywhere", {
        "base.yml": "services:\n  base:\n    image: busybox\n    ports: ['0.0.0.0:4003:4000']\n    environment: {A: from-base}\n",
        "docker-compose.yml": ("services:\n  litellm:\n    extends: {file: base.yml, service: base}\n"
                               f"    image: {LITELLM}\n    ports: ['127.0.0.1:4000:4000']\n    environment: {{B: own}}\n"),
    }),
    Case("extends-chain-and-same-file", {
        "docker-compose.yml": ("services:\n  root:\n    image: busybox\n    cap_drop: [ALL]\n    command: sh -c 'echo root'\n"
                               "  middle:\n    extends: root\n    security_opt: ['no-new-privileges:true']\n"
                               "  leaf:\n    extends: {service: middle}\n    command: [echo, leaf]\n    cap_drop: [NET_RAW]\n"),
    }),
    Case("extends-base-env-file-relative-to-its-file", {
        "sub/base.yml": "services:\n  b:\n    image: busybox\n    env_file: base.env\n",
        "sub/base.env": "FROM_BASE=yes\n",
        "docker-compose.yml": "services:\n  a:\n    extends: {file: sub/base.yml, service: b}\n",
    }),
    Case("top-level-include-adds-host-networking", {
        "extra/compose.yaml": "services:\n  sidecar:\n    image: busybox\n    network_mode: host\n    environment: ['X=${FROM_INCLUDED_ENV}']\n",
        "extra/.env": "FROM_INCLUDED_ENV=included\nSHARED=included\n",
        ".env": "SHARED=parent\n",
        "docker-compose.yml": "include:\n  - extra/compose.yaml\nservices:\n  litellm:\n    image: busybox\n    environment: ['S=${SHARED}']\n",
    }),
    Case("include-long-syntax-with-env-file-and-project-directory", {
        "inc/one.yml": "services:\n  one:\n    image: busybox\n    environment: {V: '${INC_VAR}'}\n    volumes: ['./data:/data:ro']\n",
        "inc.env": "INC_VAR=from-inc-env\n",
        "docker-compose.yml": ("include:\n  - path: inc/one.yml\n    env_file: inc.env\n    project_directory: inc\n"
                               "services:\n  main:\n    image: busybox\n"),
    }),
    Case("override-file-publishes-and-replaces-command", {
        "docker-compose.yml": ("services:\n  litellm:\n    image: busybox\n    command: [--config, /app/config.yaml]\n"
                               "    ports: ['127.0.0.1:4000:4000']\n    environment: {A: one, B: two}\n    cap_drop: [ALL]\n"),
        "docker-compose.override.yml": ("services:\n  litellm:\n    command: [--detailed_debug]\n    ports: ['4000:4000', '127.0.0.1:4000:4000']\n"
                                        "    environment: [B=override, C=three]\n    cap_drop: [ALL, NET_RAW]\n"),
    }),
    Case("compose-yaml-wins-and-its-override", {
        "compose.yaml": "services:\n  a:\n    image: from-compose-yaml\n",
        "docker-compose.yml": "services:\n  a:\n    image: from-docker-compose-yml\n",
        "compose.override.yml": "services:\n  a:\n    read_only: true\n",
    }),
    Case("compose-file-from-dotenv", {
        ".env": "COMPOSE_FILE=docker-compose.yml:evil.yml\n",
        "docker-compose.yml": "services:\n  litellm:\n    image: busybox\n    ports: ['127.0.0.1:4000:4000']\n",
        "evil.yml": "services:\n  litellm:\n    ports: ['0.0.0.0:4000:4000']\n    privileged: true\n",
    }),
    Case("compose-path-separator", {
        ".env": "COMPOSE_PATH_SEPARATOR=;\nCOMPOSE_FILE=a.yml;b.yml\n",
        "a.yml": "services:\n  s:\n    image: a\n",
        "b.yml": "services:\n  s:\n    image: b\n    user: nobody\n",
    }),
    Case("compose-profiles-in-dotenv-and-every-profile", {
        ".env": "COMPOSE_PROFILES=evil\n",
        "docker-compose.yml": ("services:\n  plain:\n    image: busybox\n  evil:\n    profiles: [evil]\n    image: busybox\n"
                               "    network_mode: host\n  other:\n    profiles: [other]\n    image: busybox\n"),
    }),
    Case("interpolation-operators", {
        ".env": "SET=value\nEMPTY=\nWEAK=sk-1234\n",
        "docker-compose.yml": ("services:\n  s:\n    image: busybox\n    environment:\n"
                               "      A: ${SET:-default}\n      B: ${EMPTY:-default}\n      C: ${EMPTY-default}\n"
                               "      D: ${UNSET:-${SET}-nested}\n      E: ${SET:+alt}\n      F: ${EMPTY:+alt}\n"
                               "      G: ${UNSET+alt}\n      H: $$LITERAL\n      I: $SET-$SET\n      J: ${SET?needed}\n"
                               "      LITELLM_MASTER_KEY: ${WEAK}\n      K: pre${UNSET}post\n"),
    }),
    Case("required-variable-missing", {
        "docker-compose.yml": "services:\n  s:\n    image: busybox\n    environment: {A: '${NOT_SET:?set it in .env}'}\n",
    }, refused=True),
    Case("required-variable-empty-with-colon", {
        ".env": "EMPTY=\n",
        "docker-compose.yml": "services:\n  s:\n    image: busybox\n    environment: {A: '${EMPTY:?must not be empty}'}\n",
    }, refused=True),
    Case("dotenv-syntax", {
        ".env": ("# comment\nexport EXPORTED=1\nCOLON: colon-value\nSPACED = spaced  # trailing comment\n"
                 "SINGLE='lit $SPACED'\nDOUBLE=\"line\\nnext ${SPACED}\"\nHASH=a#b\nREF=${EXPORTED}-${SINGLE}\n"
                 "DEFAULTED=${NOPE:-fallback}\n"),
        "docker-compose.yml": ("services:\n  s:\n    image: busybox\n    environment:\n"
                               "      - EXPORTED\n      - COLON=${COLON}\n      - SPACED=${SPACED}\n      - SINGLE=${SINGLE}\n"
                               "      - DOUBLE=${DOUBLE}\n      - HASH=${HASH}\n      - REF=${REF}\n      - DEFAULTED=${DEFAULTED}\n"
                               "      - NOT_ANYWHERE\n"),
    }),
    Case("env-file-forms-and-interpolation", {
        ".env": "PROJECT=p\n",
        "one.env": "ONE=1\nUSES_PROJECT=${PROJECT}-x\nOVERRIDDEN=from-file\nINHERITS\n",
        "two.env": "TWO=2\nUSES_ONE=${ONE}\n",
        "docker-compose.yml": ("services:\n  s:\n    image: busybox\n"
                               "    env_file: [one.env, {path: two.env}, {path: missing.env, required: false}]\n"
                               "    environment: {OVERRIDDEN: from-environment, INHERITS: from-environment}\n"),
    }),
    Case("env-file-required-missing", {
        "docker-compose.yml": "services:\n  s:\n    image: busybox\n    env_file: missing.env\n",
    }, refused=True),
    Case("schema-update-yes-is-the-string-yes", {
        "docker-compose.yml": (f"services:\n  litellm:\n    image: {LITELLM}\n    environment:\n"
                               "      DISABLE_SCHEMA_UPDATE: yes\n      ON: on\n      NUMBER: 6379\n      FLOAT: 1.50\n"
                               "      BIG: 1e6\n      TRUE_BOOL: true\n      OCTAL: 0o17\n      NULL_VALUE:\n"),
    }),
    Case("decoy-named-litellm-and-real-gateway", {
        "docker-compose.yml": ("services:\n  litellm:\n    image: busybox\n    command: [sleep, infinity]\n"
                               f"  gateway:\n    image: {LITELLM}\n    command: [--config, /app/config.yaml, --detailed_debug]\n"
                               "    ports: ['0.0.0.0:4000:4000']\n    volumes: ['./litellm/config.yaml:/app/config.yaml:ro']\n"),
    }),
    Case("ports-every-syntax", {
        "docker-compose.yml": ("services:\n  s:\n    image: busybox\n    ports:\n      - 4000\n      - '4001:4001'\n"
                               "      - 22:22\n      - '127.0.0.1::4002'\n      - '[::1]:4003:4003'\n      - '127.0.0.1:5000-5001:5000-5001'\n"
                               "      - '0.0.0.0:6000:6000/udp'\n      - {target: 7000, published: 7000}\n"
                               "      - {target: 7001, published: '7001', host_ip: 127.0.0.1, protocol: tcp}\n"),
    }),
    Case("hardening-fields", {
        "docker-compose.yml": ("x-hard: &hard\n  security_opt: ['no-new-privileges:true']\n  cap_drop: [ALL]\n"
                               "  logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}\n"
                               "services:\n  s:\n    <<: *hard\n    image: busybox\n    read_only: 'true'\n    pids_limit: '100'\n"
                               "    mem_limit: 512m\n    cap_add: [CHOWN]\n    tmpfs: /tmp\n"
                               "  t:\n    image: busybox\n    deploy: {resources: {limits: {memory: 1gb, pids: 50}}}\n    privileged: yes\n"),
    }),
    Case("logging-merge-different-driver", {
        "docker-compose.yml": "services:\n  s:\n    image: busybox\n    logging: {driver: json-file, options: {max-size: 10m}}\n",
        "docker-compose.override.yml": "services:\n  s:\n    logging: {driver: local, options: {max-file: '2'}}\n",
    }),
    Case("multiple-documents-in-one-file", {
        "docker-compose.yml": ("services:\n  litellm:\n    image: busybox\n    ports: ['127.0.0.1:4000:4000']\n---\n"
                               "services:\n  litellm:\n    ports: ['0.0.0.0:4000:4000']\n"),
    }),
    Case("reset-and-override-tags", {
        "docker-compose.yml": ("services:\n  s:\n    image: busybox\n    ports: ['127.0.0.1:4000:4000']\n"
                               "    environment: {A: one}\n    cap_drop: [ALL]\n"),
        "docker-compose.override.yml": ("services:\n  s:\n    ports: !override ['0.0.0.0:4000:4000']\n"
                                        "    cap_drop: !reset []\n    environment: !override {B: two}\n"),
    }),
    Case("bind-mounts", {
        "docker-compose.yml": ("services:\n  litellm:\n    image: busybox\n    volumes:\n      - ./litellm/config.yaml:/app/config.yaml:ro\n"
                               "      - named:/data\n      - {type: bind, source: ./other, target: /other}\nvolumes:\n  named:\n"),
    }),
    Case("explicit-file-ignores-the-override", {
        "docker-compose.yml": "services:\n  s:\n    image: base\n",
        "docker-compose.override.yml": "services:\n  s:\n    image: overridden\n",
        "custom.yml": "services:\n  s:\n    image: custom\n",
    }, explicit="custom.yml"),
    Case("extends-missing-service", {
        "docker-compose.yml": "services:\n  s:\n    extends: nowhere\n",
    }, refused=True),
    Case("extends-cycle", {
        "docker-compose.yml": "services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: a\n",
    }, refused=True),
    Case("include-conflicting-service", {
        "inc.yml": "services:\n  s:\n    image: from-include\n",
        "docker-compose.yml": "include: [inc.yml]\nservices:\n  s:\n    image: from-main\n",
    }, refused=True),
    Case("distinct-memory-limits", {
        "docker-compose.yml": "services:\n  s:\n    image: x\n    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 2g}}}\n",
    }, refused=True),
    Case("reset-a-whole-service-and-anchors-in-ports", {
        "docker-compose.yml": ("x-ports: &ports ['127.0.0.1:4000:4000']\nservices:\n  a:\n    image: busybox\n    ports: *ports\n"
                               "  b:\n    image: busybox\n    ports: *ports\n"),
        "docker-compose.override.yml": "services:\n  b: !reset {}\n  a:\n    ports: ['127.0.0.1:4009:4009']\n",
    }),
    Case("dollar-escapes-reach-the-container-once", {
        ".env": "PASS='pa$$word'\nPLAIN=p$$q\n",
        "docker-compose.yml": ("services:\n  s:\n    image: busybox\n    command: [sh, -c, 'echo $$HOME']\n"
                               "    environment: {A: '${PASS}', B: '$${NOT_A_VAR}', C: '${PLAIN}'}\n"),
    }),
    Case("env-file-in-an-override-and-an-include", {
        "inc/compose.yaml": "services:\n  i:\n    image: busybox\n    env_file: inc.env\n",
        "inc/inc.env": "FROM_INC_FILE=1\n",
        "secrets.env": "LITELLM_MASTER_KEY=sk-from-env-file\n",
        "docker-compose.yml": "include: [inc/compose.yaml]\nservices:\n  s:\n    image: busybox\n",
        "docker-compose.override.yml": "services:\n  s:\n    env_file: [secrets.env]\n",
    }),
    Case("extends-keeps-the-base-list-and-adds", {
        "docker-compose.yml": ("services:\n  base:\n    image: busybox\n    security_opt: ['no-new-privileges:true']\n"
                               "    ports: ['127.0.0.1:1:1']\n    cap_add: [CHOWN]\n"
                               "  s:\n    extends: base\n    security_opt: ['label:disable']\n    ports: ['2:2']\n    cap_add: [CHOWN, SETUID]\n"),
    }),
]
