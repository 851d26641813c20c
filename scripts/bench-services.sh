#!/usr/bin/env bash
# Lab benchmark (not a test): llama-server model load time over the shaped
# link with the RPC server's tensor cache cold and warm, and decode speed
# through the published endpoint. Run after `make lab`; it restarts the lab's
# services (the services play would leave them as they are).
#   scripts/bench-services.sh [RUNS]     (default 3 runs of each)
set -euo pipefail

RUNS=${1:-3}
WORKER=${WORKER:-llamalab-spark}
HEAD=${HEAD:-llamalab-studio}
URL=${URL:-https://127.0.0.1:9999}
# The head's self-signed certificate, which the llama_server role made on the
# controller for the lab's cluster (cluster_name lab, from inventory/lab).
CACERT=${CACERT:-$(cd "$(dirname "$0")/.." && pwd)/build/clusters/lab/tls/studio.crt}
CACHE=${CACHE:-/var/cache/llama-rpc-server/rpc}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "$0")/.." && pwd)/tests/lab/roles/lab/files/containers.conf}
# The head's API key, read from its root-only environment file (the lab's
# head serves beyond loopback, so it has one).
LLAMA_API_KEY=$(podman exec "$HEAD" sh -c '. /etc/default/llama-server.secret 2>/dev/null; printf %s "${LLAMA_API_KEY:-}"')

now() { date +%s.%N; }

wait_healthy() {
    local start=$1
    until [ "$(curl -s --cacert "$CACERT" -o /dev/null -w '%{http_code}' "$URL/health" || true)" = 200 ]; do
        sleep 0.1
        if [ "$(echo "$(now) - $start > 600" | bc)" = 1 ]; then
            echo "no /health 200 after 600 s" >&2
            exit 1
        fi
    done
    echo "$(now) - $start" | bc
}

# The worker restarts first and the head after it, as the services play orders them.
load() {
    local cold=$1 start
    podman exec "$HEAD" systemctl stop llama-server.service
    if [ "$cold" = cold ]; then
        podman exec "$WORKER" sh -c "rm -f $CACHE/*"
    fi
    podman exec "$WORKER" systemctl restart llama-rpc-server.service
    podman exec "$WORKER" sh -c 'for i in $(seq 50); do ss -Hltn "sport = :50052" | grep -q . && exit 0; sleep 0.1; done; exit 1'
    start=$(now)
    podman exec "$HEAD" systemctl start llama-server.service
    wait_healthy "$start"
}

decode() {
    curl -s --cacert "$CACERT" "$URL/v1/chat/completions" -H 'Content-Type: application/json' -H "Authorization: Bearer $LLAMA_API_KEY" \
        -d '{"messages":[{"role":"user","content":"Write a long story about a lighthouse keeper."}],"max_tokens":128,"temperature":0}' |
        python3 -c 'import json,sys; t=json.load(sys.stdin)["timings"]; print("%.1f tok/s decode (%d tokens), %.1f tok/s prompt" % (t["predicted_per_second"], t["predicted_n"], t["prompt_per_second"]))'
}

echo "model load to /health 200, seconds (RPC tensor cache on the worker):"
for i in $(seq "$RUNS"); do
    printf '  cold (cache emptied) #%s: %s\n' "$i" "$(load cold)"
    printf '  warm (cache kept)    #%s: %s\n' "$i" "$(load warm)"
done
echo "cache on the worker: $(podman exec "$WORKER" du -sh "$CACHE" | cut -f1)"
echo "decode through $URL:"
for i in $(seq "$RUNS"); do
    printf '  #%s: %s\n' "$i" "$(decode)"
done
