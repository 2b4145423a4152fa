#!/usr/bin/env bash
# The engines nodespace's generation benchmarks compare against, installed from PyPI into
# ~/.cache/nodespace-peers (NS_PEERS_DIR), each in its own venv so none changes the others:
#
#   llama-venv   llama-cpp-python built from source, CPU only. Not -march=native: this
#                CPU advertises AMX that the VM does not allow (SIGILL in prompt
#                processing), so AVX2/FMA/F16C are named, AVX-512 where lscpu lists it.
#   genai-venv   onnxruntime-genai with its model builder (torch, transformers, onnx).
#
# Idempotent: a venv whose stamp matches is kept (a second run takes a second). Slow the
# first time (llama.cpp's build ~8 min on 2 cores; torch ~1 GB): start it in the background
# (`scripts/setup_peers.sh > peers.log 2>&1 &`). scripts/bench_engines.py runs it itself.
set -euo pipefail

PEERS=${NS_PEERS_DIR:-$HOME/.cache/nodespace-peers}
LLAMA_VERSION=0.3.36
GENAI_VERSION=0.18.0
mkdir -p "$PEERS"

# fresh_venv NAME STAMP COMMAND...: unless $PEERS/NAME carries STAMP, make it anew, run
# COMMAND (the install) and stamp it.
fresh_venv() {
    local name=$1 stamp=$2
    shift 2
    if [[ "$(cat "$PEERS/$name/.stamp" 2>/dev/null)" == "$stamp" ]]; then
        return
    fi
    rm -rf "${PEERS:?}/$name"
    python3 -m venv "$PEERS/$name"
    "$PEERS/$name/bin/pip" install -q --upgrade pip
    "$@"
    echo "$stamp" > "$PEERS/$name/.stamp"
}

cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF"
cmake_args+=" -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF"
if grep -qw avx512f /proc/cpuinfo; then cmake_args+=" -DGGML_AVX512=ON"; fi
install_llama() {
    echo "setup_peers: building llama-cpp-python $LLAMA_VERSION from source ($cmake_args)"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
        "$PEERS/llama-venv/bin/pip" install -q --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_VERSION" numpy
}
fresh_venv llama-venv "llama-cpp-python==$LLAMA_VERSION $cmake_args" install_llama
echo "setup_peers: llama.cpp ok ($("$PEERS/llama-venv/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)'))"

install_genai() {
    echo "setup_peers: installing onnxruntime-genai $GENAI_VERSION and its model builder's dependencies"
    "$PEERS/genai-venv/bin/pip" install -q "onnxruntime-genai==$GENAI_VERSION" torch "transformers>=5" onnx \
        onnx_ir sentencepiece protobuf numpy safetensors gguf accelerate
}
fresh_venv genai-venv "onnxruntime-genai==$GENAI_VERSION torch transformers>=5 onnx gguf accelerate" install_genai
echo "setup_peers: onnxruntime-genai ok ($("$PEERS/genai-venv/bin/python" -c 'import onnxruntime_genai as og; print(og.__version__)'))"
