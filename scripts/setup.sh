#!/usr/bin/env bash
# Create .venv and install localrag with its default models. Safe to run again: a stamp
# keyed on the dependency files makes a repeat run return in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LOCALRAG_VENV:-.venv}"
PY="${PYTHON:-python3}"
stamp="$VENV/.localrag-setup"
want="$( (cat pyproject.toml scripts/setup.sh; echo "${CMAKE_ARGS:-}") | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)

has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  has_gpu=1
fi

# torch first: anything that pulls it in later (sentence-transformers) would otherwise
# fetch the newest CUDA build with several GB of dependencies on a CPU-only machine.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch (gpu=$has_gpu)"
  if [ "$has_gpu" = 1 ]; then
    "${pip[@]}" torch
  else
    "${pip[@]}" "torch==2.13.0" || "${pip[@]}" torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi

# llama.cpp gets CUDA only where a GPU answers: a CUDA build on a CPU-only box takes an
# hour and gives nothing. The CPU code is built for x86-64-v3 (AVX2, FMA, F16C), not for
# the building host: a native build also emits AVX-512 and AMX paths, which die with
# "Illegal instruction" on a machine (or a VM host) that lacks them or will not grant the
# AMX tile state. pip's own wheel cache ignores CMAKE_ARGS and would hand back a wheel
# built with other flags, so the wheel is built into a cache keyed by those flags.
llama_args="-DGGML_NATIVE=OFF"
if [ "$has_gpu" = 1 ] && command -v nvcc >/dev/null 2>&1; then
  llama_args="$llama_args -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=native"
fi
llama_args="$llama_args ${CMAKE_ARGS:-}"
llama_key="$(printf '%s %s %s' "0.3.36" "$(uname -m)" "$llama_args" | sha256sum | cut -c1-16)"
llama_stamp="$VENV/.localrag-llama-cpp"
# Rebuilt when missing, when built before this rule (natively), or when CMAKE_ARGS asks
# for other flags; a plain run keeps whichever build the last CMAKE_ARGS chose.
have="$(cat "$llama_stamp" 2>/dev/null || true)"
if ! "$VENV/bin/python" -c "import llama_cpp" >/dev/null 2>&1 || [ -z "$have" ] ||
  { [ -n "${CMAKE_ARGS:-}" ] && [ "$have" != "$llama_key" ]; }; then
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/localrag/wheels/llama-cpp-python-$llama_key"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "setup: building llama-cpp-python ($llama_args; takes a few minutes)"
    mkdir -p "$wheels"
    CMAKE_ARGS="$llama_args" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
      "$VENV/bin/python" -m pip wheel --disable-pip-version-check -q --no-cache-dir --no-deps \
      -w "$wheels" "llama-cpp-python==0.3.36"
  fi
  echo "setup: installing llama-cpp-python from $wheels"
  # its dependencies come with localrag's own, below
  "${pip[@]}" --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
  echo "$llama_key" >"$llama_stamp"
fi

# The web page's end-to-end test drives Debian's chromium through chromium-driver.
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing chromium and chromium-driver (for the browser test)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
      (apt-get update -q >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) ||
      echo "setup: could not install chromium; the browser test will be skipped"
  else
    echo "setup: chromium-driver missing; run 'sudo apt-get install chromium chromium-driver' for the browser test"
  fi
fi

echo "setup: installing localrag and its default models"
"${pip[@]}" -e ".[models,dev]"
echo "$want" >"$stamp"
echo "setup: done ($VENV)"
