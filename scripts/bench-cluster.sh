#!/usr/bin/env bash
# Cluster-level figures, one `name=value` line each:
#   1. pod startup (create → Running seen through a watch) for 1,000 pods on 50 fake nodes;
#   2. the same for 20 pods on a real containerd (skipped with a message unless root and
#      containerd are available; `--no-containerd` skips it explicitly);
#   3. `kcluster up --nodes 50 --runtime fake` at rest with 1,000 Running pods: CPU of the
#      whole cluster process (store, API server, controllers, scheduler, DNS, 50 kubelets)
#      over 30 s, and its resident memory.
#
#   bash scripts/bench-cluster.sh [--no-containerd]
set -euo pipefail
cd "$(dirname "$0")/.."

containerd=1
[[ "${1:-}" == "--no-containerd" ]] && containerd=0

cargo build --release --locked -q -p kcluster --example pod-startup --bin kcluster
target/release/examples/pod-startup --nodes 50 --pods 1000
if [[ $containerd == 1 ]]; then
  if [[ $(id -u) == 0 ]] && command -v containerd >/dev/null; then
    target/release/examples/pod-startup --containerd --pods 20
  else
    echo "bench-cluster: 20 pods on containerd needs root and containerd (scripts/install-deps.sh)" >&2
  fi
fi

work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

target/release/kcluster up --data-dir "$work/data" --nodes 50 --runtime fake --port "$(free_port)" \
  --metrics-bind-address "127.0.0.1:$(free_port)" --dns-address "127.0.0.1:$(free_port)" >"$work/up.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -qsx ready "$work/up.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/up.log" >&2; exit 1; }
  sleep 0.2
done
export KUBECONFIG="$work/data/kubeconfig"
kubectl() { /usr/lib/google-cloud-sdk/bin/kubectl.1.33 "$@"; }
kubectl create deployment rest --image=busybox --replicas=1000 >/dev/null
for _ in $(seq 1 600); do
  running=$(kubectl get pods --field-selector=status.phase=Running -o name | wc -l)
  [[ $running -ge 1000 ]] && break
  sleep 1
done
[[ $running -ge 1000 ]] || { echo "bench-cluster: only $running pods Running" >&2; exit 1; }
sleep 10 # let the start-up work settle

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep 30
t1=$(ticks)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz / 30 * 100 }')
echo "bench=cluster_at_rest nodes=50 pods=1000 cpu_percent=$cpu rss_mb=$((rss_kb / 1024))"
