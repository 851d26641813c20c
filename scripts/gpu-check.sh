#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and the CUDA toolkit: build the CUDA+RPC
# server from the pinned llama.cpp source, start it on loopback, probe it with
# RPC HELLO (devices and memory) and run the split planner against it.
#
# Usage: scripts/gpu-check.sh [SDIST] [MODEL.gguf]
#   SDIST  llama-cpp-python 0.3.36 sdist (its vendor/llama.cpp is the pinned
#          commit); default build/sources/llama_cpp_python-0.3.36.tar.gz
#   MODEL  a GGUF to plan; default the lab model build/models/gemma-3-270m-q4_k_m.gguf
# Needs: cmake, a C++ compiler, nvcc (CUDA_ROOT, default /usr/local/cuda),
# nvidia-smi, python3. Nothing in CI runs it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDIST="${1:-${REPO}/build/sources/llama_cpp_python-0.3.36.tar.gz}"
MODEL="${2:-${REPO}/build/models/gemma-3-270m-q4_k_m.gguf}"
CUDA_ROOT="${CUDA_ROOT:-/usr/local/cuda}"
WORK="${WORK:-$(mktemp -d)}"
PORT="${PORT:-50152}"
PY="${PYTHON:-python3}"

say() { printf '== %s\n' "$*"; }

say "GPU"
nvidia-smi --query-gpu=index,name,compute_cap,memory.free,memory.total --format=csv
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d '.')"

say "source: ${SDIST}"
tar -xzf "${SDIST}" -C "${WORK}"
SRC="$(find "${WORK}" -maxdepth 3 -type d -path '*vendor/llama.cpp' | head -n1)"
grep -E 'RPC_PROTO_(MAJOR|MINOR|PATCH)_VERSION' "${SRC}/ggml/include/ggml-rpc.h"

say "configure and build ggml-rpc-server for CUDA architecture ${ARCH}"
start=${SECONDS}
cmake -S "${SRC}" -B "${WORK}/build" -DGGML_CUDA=ON -DGGML_RPC=ON -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${ARCH}" -DCUDAToolkit_ROOT="${CUDA_ROOT}" \
  -DCMAKE_CUDA_COMPILER="${CUDA_ROOT}/bin/nvcc" >"${WORK}/configure.log"
cmake --build "${WORK}/build" --parallel "$(nproc)" --target ggml-rpc-server >"${WORK}/build.log"
say "built in $((SECONDS - start)) s"

say "start it on 127.0.0.1:${PORT}"
"${WORK}/build/bin/ggml-rpc-server" --host 127.0.0.1 --port "${PORT}" >"${WORK}/rpc.log" 2>&1 &
server=$!
trap 'kill "${server}" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break
  sleep 0.2
done

say "HELLO probe and plan"
PYTHONPATH="${REPO}/plugins/module_utils" "${PY}" - "${PORT}" "${MODEL}" <<'PYEOF'
import json, sys
import rpc_probe, gguf_model, split_plan
port, model_path = int(sys.argv[1]), sys.argv[2]
probe = rpc_probe.probe("127.0.0.1", port, timeout=10).as_dict()
print(json.dumps(probe, indent=2))
devices = split_plan.llama_devices([{"endpoint": f"127.0.0.1:{port}", "devices": probe["devices"]}])
plan = split_plan.plan(gguf_model.read_model(model_path), devices, 4096)
print(split_plan.table(plan))
PYEOF
