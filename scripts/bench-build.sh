#!/usr/bin/env bash
# Build-time benchmark for the llama_cpp role on the lab (a benchmark, not a test).
#
#   scripts/bench-build.sh [INVENTORY]                 # default inventory/lab
#   BENCH_STEPS="worker shared" scripts/bench-build.sh # only some rows
#
# Steps (all by default; the whole run takes about 30 minutes on 2 cores):
#   worker  cold build of the worker's target (the RPC server) on the worker
#   shared  the same target on the head, with the ccache the worker just filled
#   head    cold build of the head's targets (llama-server, llama-bench)
#   full    cold build of all three tools
#   stage   the build stage (playbooks/build.yml) into a scratch install dir
#           with a fresh shared ccache, then a re-run of it
# Cold = an empty CCACHE_DIR pointed elsewhere. The builds use the tree and the
# CMake flags of the current release (converge first), and the same paths on
# both nodes, as the role does. Nothing of the converged release is touched.
# hits/misses are the counters of the cache the row used, after the row.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
INVENTORY=${1:-inventory/lab}
STEPS=${BENCH_STEPS:-worker shared head full stage}
RUN=bench-$$
SCRATCH=/opt/llama.cpp-$RUN
SHARED=/var/cache/ccache/$RUN          # the lab's shared ccache mount, a fresh subdirectory

read -r WORKER HEAD < <(ansible-inventory -i "$INVENTORY" --list | python3 -c '
import json, sys
d = json.load(sys.stdin)
hv = d["_meta"]["hostvars"]
print(hv[d["llama_workers"]["hosts"][0]]["lab_container"], hv[d["llama_heads"]["hosts"][0]]["lab_container"])')

stamp_field() {  # stamp_field CONTAINER EXPR: a value of the current release's stamp
    podman exec "$1" cat /opt/llama.cpp/current/llama-cpp-stamp.json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}
TREE=$(podman exec "$HEAD" sh -c 'find /opt/llama.cpp/src -maxdepth 8 -path "*/ggml/include/ggml-rpc.h" | head -1')
TREE=${TREE%/ggml/include/ggml-rpc.h}
FLAGS=$(stamp_field "$HEAD" '" ".join(s["cmake_flags"])')
RPC_TARGET=$(stamp_field "$WORKER" 's["binaries"]["rpc_server"]')
JOBS=$(podman exec "$HEAD" nproc)
[ -n "$TREE" ] || { echo "no llama.cpp tree under /opt/llama.cpp/src on $HEAD: converge the build stage first" >&2; exit 1; }

cleanup() {
    for c in "$WORKER" "$HEAD"; do
        podman exec "$c" rm -rf "$SCRATCH" "/tmp/$RUN" || true
    done
    podman exec "$HEAD" rm -rf "$SHARED" || true
}
trap cleanup EXIT

ROWS=()
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
counters() {  # ccache hits/misses in a cache dir, as "hits misses"
    podman exec -e CCACHE_DIR="$2" "$1" ccache --print-stats 2>/dev/null | awk -F'\t' '
        $1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { h += $2 } $1 == "cache_miss" { m = $2 }
        END { printf "%d %d\n", h, m }'
}

build() {  # build LABEL CONTAINER CCACHE_DIR TARGET...: configure + compile, one table row
    local label=$1 container=$2 cache=$3 start end
    shift 3
    local dir=$SCRATCH/build
    podman exec "$container" sh -c "rm -rf '$dir' && mkdir -p '$cache'"
    start=$EPOCHREALTIME
    podman exec -e CCACHE_DIR="$cache" -e CCACHE_BASEDIR="$SCRATCH" -e CCACHE_NOHASHDIR=true \
        -e CCACHE_SLOPPINESS=time_macros "$container" sh -c "
        cmake -S '$TREE' -B '$dir' $FLAGS -DGGML_CCACHE=ON >/dev/null 2>&1 &&
        cmake --build '$dir' --parallel $JOBS --target $* >/dev/null"
    end=$EPOCHREALTIME
    read -r hits misses < <(counters "$container" "$cache")
    ROWS+=("$(printf '%-48s %-16s %9s %7s %7s' "$label" "$container" "$(seconds "$start" "$end")" "$hits" "$misses")")
    echo "${ROWS[-1]}" >&2
}

stage() {  # stage LABEL: the build stage into the scratch install dir, one table row
    local label=$1 start end
    start=$EPOCHREALTIME
    ansible-playbook -i "$INVENTORY" playbooks/build.yml \
        -e "llama_cpp_install_dir=$SCRATCH" -e "llama_cpp_ccache_dir=$SHARED" >/dev/null
    end=$EPOCHREALTIME
    read -r hits misses < <(counters "$HEAD" "$SHARED")
    ROWS+=("$(printf '%-48s %-16s %9s %7s %7s' "$label" "all nodes" "$(seconds "$start" "$end")" "$hits" "$misses")")
    echo "${ROWS[-1]}" >&2
}

echo "tree $TREE, $JOBS jobs, flags: $FLAGS" >&2
for step in $STEPS; do
    case $step in
        worker) build "worker only ($RPC_TARGET), cold" "$WORKER" "$SHARED" "$RPC_TARGET" ;;
        shared) build "worker only, second node, shared ccache" "$HEAD" "$SHARED" "$RPC_TARGET" ;;
        head) build "head only (llama-server llama-bench), cold" "$WORKER" "/tmp/$RUN/head" llama-server llama-bench ;;
        full) build "all three tools, cold" "$HEAD" "/tmp/$RUN/full" "$RPC_TARGET" llama-server llama-bench ;;
        stage)
            podman exec "$HEAD" rm -rf "$SHARED"
            stage "build stage, first run (fresh shared ccache)"
            stage "build stage, re-run" ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done

printf '\n%-48s %-16s %9s %7s %7s\n' "build" "where" "seconds" "hits" "misses"
printf '%s\n' "${ROWS[@]}"
