#!/usr/bin/env bash
# Build the host tools the unit tests need (ggml-rpc-server, llama-bench,
# llama-server) from the llama-cpp-python sdist, CPU + RPC only, into
# build/host/.
#
# Usage: scripts/build-host-tools.sh [SDIST]
#   SDIST defaults to build/sources/llama_cpp_python-0.3.36.tar.gz and is
#   downloaded from PyPI when missing. A stamp (sdist sha256 + cmake flags)
#   makes a second run a no-op while the binaries exist.
set -euo pipefail

readonly PKG_VERSION="0.3.36"
readonly TARGETS=(ggml-rpc-server llama-bench llama-server)
readonly CMAKE_FLAGS=(
  -DGGML_RPC=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF
  -DGGML_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release
)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly SOURCES_DIR="${REPO_ROOT}/build/sources"
readonly BUILD_DIR="${REPO_ROOT}/build/host"
readonly STAMP="${BUILD_DIR}/.host-tools.stamp"
SDIST="${1:-${SOURCES_DIR}/llama_cpp_python-${PKG_VERSION}.tar.gz}"

log() { printf 'build-host-tools: %s\n' "$*" >&2; }

python_bin() {
  if [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then
    echo "${REPO_ROOT}/.venv/bin/python"
  else
    echo python3
  fi
}

fetch_sdist() {
  [[ -f "${SDIST}" ]] && return 0
  log "sdist ${SDIST} missing; downloading llama-cpp-python==${PKG_VERSION} from PyPI"
  mkdir -p "${SOURCES_DIR}"
  "$(python_bin)" -m pip download --no-deps --no-binary :all: \
    "llama-cpp-python==${PKG_VERSION}" -d "${SOURCES_DIR}"
  SDIST="${SOURCES_DIR}/llama_cpp_python-${PKG_VERSION}.tar.gz"
  [[ -f "${SDIST}" ]] || { log "download did not produce ${SDIST}"; exit 1; }
}

# Print the llama.cpp source dir, extracting vendor/llama.cpp from the sdist.
extract_source() {
  local top
  top="$(basename "${SDIST}" .tar.gz)"
  local src="${SOURCES_DIR}/${top}/vendor/llama.cpp"
  if [[ ! -f "${src}/CMakeLists.txt" ]]; then
    log "extracting ${top}/vendor/llama.cpp"
    mkdir -p "${SOURCES_DIR}"
    tar -xzf "${SDIST}" -C "${SOURCES_DIR}" "${top}/vendor/llama.cpp"
  fi
  echo "${src}"
}

stamp_value() {
  printf '%s %s\n' "$(sha256sum "${SDIST}" | cut -d' ' -f1)" "${CMAKE_FLAGS[*]}"
}

up_to_date() {
  local t
  [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "$(stamp_value)" ]] || return 1
  for t in "${TARGETS[@]}"; do
    [[ -x "${BUILD_DIR}/bin/${t}" ]] || return 1
  done
}

launcher_flags() {
  if command -v ccache >/dev/null 2>&1; then
    echo "-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  else
    log "ccache not found; building without a compiler cache"
  fi
}

build() {
  local src="$1"
  export CCACHE_DIR="${CCACHE_DIR:-/var/cache/llama-lab/ccache}"
  export CCACHE_BASEDIR="${src}"
  mkdir -p "${CCACHE_DIR}"
  # shellcheck disable=SC2046  # launcher_flags is intentionally word-split
  cmake -S "${src}" -B "${BUILD_DIR}" "${CMAKE_FLAGS[@]}" $(launcher_flags)
  cmake --build "${BUILD_DIR}" --parallel "$(nproc)" --target "${TARGETS[@]}"
  stamp_value >"${STAMP}"
}

main() {
  fetch_sdist
  mkdir -p "${BUILD_DIR}"
  exec 9>"${BUILD_DIR}/.host-tools.lock"
  flock 9
  if up_to_date; then
    log "up to date: ${TARGETS[*]} in ${BUILD_DIR}/bin"
    return 0
  fi
  local src start
  src="$(extract_source)"
  start="${SECONDS}"
  build "${src}"
  log "built ${TARGETS[*]} in $((SECONDS - start))s into ${BUILD_DIR}/bin"
}

main "$@"
