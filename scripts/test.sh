#!/usr/bin/env bash
# Set up if needed, lint, then run the test suite (real models, real llama.cpp, real Chroma).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check localrag tests scripts
exec .venv/bin/python -m pytest "$@"
