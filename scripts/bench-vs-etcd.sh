#!/usr/bin/env bash
# Runs the same workloads against Debian's etcd and against kstore-server, one after the
# other on this machine, both single-member with fsync on, and prints one line per
# workload with both figures and the ratio kstore/etcd.
#
#   bash scripts/bench-vs-etcd.sh            # 10 s per workload
#   SECS=5 bash scripts/bench-vs-etcd.sh
#
# Needs /usr/bin/etcd and /usr/bin/etcdctl (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-10}
EVENTS=${EVENTS:-10000}
command -v etcd >/dev/null || { echo "bench-vs-etcd: etcd is not installed (run scripts/install-deps.sh)" >&2; exit 1; }

cargo build --release --locked -q -p kcluster --bin kstore-server --bin etcd-bench
BENCH=target/release/etcd-bench
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {
  local port=$1
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$port" --command-timeout=1s endpoint health >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "bench-vs-etcd: server on port $port did not become healthy" >&2
  return 1
}

start_server() {
  local kind=$1 cport=$2 pport=$3
  local peer="http://127.0.0.1:$pport" client="http://127.0.0.1:$cport"
  local common=(--name s1 --data-dir "$work/$kind" --listen-client-urls "$client" --advertise-client-urls "$client"
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "s1=$peer")
  if [[ $kind == etcd ]]; then
    etcd "${common[@]}" >"$work/$kind.log" 2>&1 &
  else
    target/release/kstore-server "${common[@]}" >"$work/$kind.log" 2>&1 &
  fi
  server_pid=$!
  wait_ready "$cport"
}

stop_server() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

workloads=(
  "put-1|--workload put --clients 1 --conns 1"
  "put-128|--workload put --clients 128 --conns 16"
  "get-linearizable-128|--workload get --clients 128 --conns 16"
  "get-serializable-128|--workload get-serializable --clients 128 --conns 16"
  "txn-cas-128|--workload txn-cas --clients 128 --conns 16"
  "watch-200|--workload watch --watchers 200 --clients 16 --conns 16 --events $EVENTS"
)

declare -A result
for kind in etcd kstore; do
  cport=$(free_port); pport=$(free_port)
  start_server "$kind" "$cport" "$pport"
  for w in "${workloads[@]}"; do
    name=${w%%|*}; flags=${w#*|}
    # shellcheck disable=SC2086
    line=$("$BENCH" --endpoint "127.0.0.1:$cport" --secs "$SECS" $flags)
    echo "# $kind $name: $line" >&2
    result["$kind/$name"]=$line
  done
  stop_server
done

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
for w in "${workloads[@]}"; do
  name=${w%%|*}
  e=${result["etcd/$name"]}; k=${result["kstore/$name"]}
  metric=ops_per_s; [[ $name == watch-* ]] && metric=deliveries_per_s
  eo=$(field "$metric" "$e"); ko=$(field "$metric" "$k")
  ratio=$(python3 -c "print(f'{$ko/$eo:.2f}' if $eo > 0 else 'inf')")
  echo "workload=$name etcd_$metric=$eo kstore_$metric=$ko ratio=$ratio etcd_p50_ms=$(field p50_ms "$e") kstore_p50_ms=$(field p50_ms "$k") etcd_p99_ms=$(field p99_ms "$e") kstore_p99_ms=$(field p99_ms "$k")"
done
