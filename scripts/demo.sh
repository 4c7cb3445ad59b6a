#!/usr/bin/env bash
# demo.sh: the main job (make demo). A whole network on loopback that
# learns and pays. A coordinator and PEERS peers, half `mlp` and half
# `cnn`, each on its shard of a Dirichlet-0.1 split of Fashion-MNIST:
# they enroll with single-use tokens, warm up on their own shards and join
# over mutual TLS. The coordinator then runs ROUNDS scheduled distillation
# rounds and pays TAO into its ledger. The demo shows each round's phase
# and every peer's validation loss and accuracy, then one table (each
# peer's accuracy with its own model alone and after the last round, the
# TAO it earned), the supply, and the grpcurl commands that read the
# ledger it leaves behind.
#
# The local-only models are measured, not estimated: the network forms
# first under a coordinator with no rounds, each peer's checkpoint after
# its warm-up is copied aside, and only then is the coordinator restarted
# with its round schedule (the peers reconnect by themselves).
#
# Every process it starts it stops, by PID, on exit or interrupt. Every log
# and home lands in $DEMO_DIR (default: a new temporary folder); only the
# progress and the results reach the terminal.
#
# The coordinator serves its dashboard and /metrics on DASHBOARD, from the
# start to the end: open http://$DASHBOARD/ while the demo runs.
#
# Environment: ROUNDS (settled rounds, 5), PEERS (6), ROUND_EVERY (36s),
# DISTILL (the distillation phase, 24s), EVAL (the evaluation phase, 6s),
# SEED (of the shard split, 7), DASHBOARD (127.0.0.1:8080), DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5} PEERS=${PEERS:-6}
ROUND_EVERY=${ROUND_EVERY:-36s} DISTILL=${DISTILL:-24s} EVAL=${EVAL:-6s} SEED=${SEED:-7}
DASHBOARD=${DASHBOARD:-127.0.0.1:8080}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "demo: ROUNDS=$ROUNDS: want a positive number" >&2; exit 2; }
[[ $PEERS =~ ^[1-9][0-9]*$ && $PEERS -ge 2 ]] || { echo "demo: PEERS=$PEERS: want 2 or more" >&2; exit 2; }
if (exec 3<> "/dev/tcp/${DASHBOARD%:*}/${DASHBOARD##*:}") 2>/dev/null; then
  echo "demo: $DASHBOARD is in use; give the dashboard another address, e.g. DASHBOARD=127.0.0.1:8081" >&2; exit 2
fi

D=${DEMO_DIR:-$(mktemp -d -t taonet-demo.XXXXXX)}
mkdir -p "$D"
D=$(cd "$D" && pwd)
C=bin/coordinator P=bin/peer GRPCURL=.tools/bin/grpcurl
for b in $C $P $GRPCURL; do
  [ -x "$b" ] || { echo "demo: $b is missing: run make deps build (or make demo)" >&2; exit 1; }
done
t0=$(date +%s.%N)

# Every process the demo starts is in pids (peers), cpid (the coordinator)
# or hpid (its client, run in the background so that a signal reaches the
# trap at once); stop ends them by PID: TERM, then KILL after 10 s.
pids=() pnames=() cpid='' hpid='' clog=''
stop() {
  local left=("$@") i p
  [ ${#left[@]} -gt 0 ] || return 0
  kill -TERM "${left[@]}" 2>/dev/null || true
  for i in $(seq 100); do
    local alive=()
    for p in "${left[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    [ ${#alive[@]} -eq 0 ] && break
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
  for p in "${left[@]}"; do wait "$p" 2>/dev/null || true; done
}
cleanup() { stop ${hpid:+"$hpid"} "${pids[@]}" ${cpid:+"$cpid"}; pids=() cpid='' hpid=''; }
trap cleanup EXIT
trap 'echo; echo "demo: interrupted; stopping what it started (logs in $D)" >&2; exit 130' INT TERM

elapsed() { local s=$SECONDS; printf '%d:%02d' $((s / 60)) $((s % 60)); }
step() { printf '\n[%s] %s\n' "$(elapsed)" "$*"; }
# wait_for waits up to $3 seconds (10) for a line matching $2 in the file $1.
wait_for() {
  for _ in $(seq $((${3:-10} * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: timed out waiting for '$2' in $1:" >&2; tail -n 20 "$1" >&2; return 1
}
# serve starts the coordinator on $1 (HOST:PORT) with the flags after it.
serve() {
  local listen=$1; clog=$2; shift 2
  $C serve --home "$D/net" --listen "$listen" --http "$DASHBOARD" --enroll-burst "$PEERS" "$@" > "$clog" 2>&1 < /dev/null &
  cpid=$!
  wait_for "$clog" "listening on" 30
}

# alive stops the demo, showing the end of its log, when a peer or the
# coordinator it started has died.
alive() {
  local i
  for i in "${!pids[@]}"; do
    kill -0 "${pids[i]}" 2>/dev/null && continue
    echo "demo: peer ${pnames[i]} stopped; the end of $D/${pnames[i]}.log:" >&2
    tail -n 5 "$D/${pnames[i]}.log" >&2
    exit 1
  done
  if [ -n "$cpid" ] && ! kill -0 "$cpid" 2>/dev/null; then
    echo "demo: the coordinator stopped; the end of $clog:" >&2
    tail -n 5 "$clog" >&2
    exit 1
  fi
}
# demo runs the demo's client (internal/demo) and waits for it, checking
# meanwhile that everything the demo started is still running.
demo() {
  "$D/bin/demo" "$@" &
  hpid=$!
  while kill -0 "$hpid" 2>/dev/null; do alive; sleep 0.5; done
  wait "$hpid"
  hpid=''
}

# Peers: names, models (even mlp, odd cnn), shards of one split.
names=(alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor)
: > "$D/peers.txt"
for ((i = 0; i < PEERS; i++)); do
  n=${names[i]:-peer$i} m=mlp
  ((i % 2)) && m=cnn
  echo "$n $m $i/$PEERS 0.1 $SEED $D/$n" >> "$D/peers.txt"
done
nmlp=$(((PEERS + 1) / 2))
echo "taonet demo: $PEERS peers ($nmlp mlp, $((PEERS - nmlp)) cnn) on Dirichlet-0.1 shards of Fashion-MNIST,"
rounds=rounds
[ "$ROUNDS" = 1 ] && rounds=round
echo "$ROUNDS $rounds, one every $ROUND_EVERY ($DISTILL to distill, up to $EVAL to evaluate). Logs and homes: $D"
echo "Dashboard, while the demo runs: http://$DASHBOARD/ (metrics: http://$DASHBOARD/metrics)"

step "building the demo's client (internal/demo)"
"${GO:-go}" build -o "$D/bin/demo" ./internal/demo

step "a network in $D/net: CA, coordinator certificate, ledger; a join token per peer"
$C init --home "$D/net" --hosts localhost,127.0.0.1 > "$D/init.log"
while read -r n _; do $C token create --home "$D/net" --name "$n" > "$D/$n.token" < /dev/null; done < "$D/peers.txt"
$C client-cert --home "$D/net" --name ops --out "$D/ops" > "$D/client-cert.log"
serve 127.0.0.1:0 "$D/coordinator-forming.log" --round-every 0
addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$D/coordinator-forming.log" | head -1)
echo "coordinator on $addr, no rounds yet; tokens, CA pin and client certificate in $D"

step "$PEERS peers enroll, warm up (one epoch on their own shard, one torch thread each) and join"
while read -r n m shard alpha seed home; do
  $P join --coordinator "$addr" --home "$home" --listen 127.0.0.1:0 \
    --model "$m" --shard "$shard" --alpha "$alpha" --seed "$seed" --threads 1 \
    --token "$(awk '/^token:/ {print $2}' "$D/$n.token")" \
    --ca-pin "$(awk '/^ca-pin:/ {print $2}' "$D/$n.token")" > "$D/$n.log" 2>&1 < /dev/null &
  pids+=($!) pnames+=("$n")
done < "$D/peers.txt"
common=(-coordinator "$addr" -client "$D/ops" -peers "$D/peers.txt" -since "$t0")
demo joined "${common[@]}" -timeout 6m

# The checkpoint each peer joined with is its local-only model: no round
# has run, so no peer has learned from another yet.
while read -r n m _ _ _ home; do cp "$home/model-$m.pt" "$home/demo-local-only.pt"; done < "$D/peers.txt"

step "the network has formed; the coordinator restarts with a round every $ROUND_EVERY (peers reconnect)"
stop "$cpid"; cpid=''
serve "$addr" "$D/coordinator.log" --round-every "$ROUND_EVERY" --distill-timeout "$DISTILL" --eval-timeout "$EVAL"
demo rounds "${common[@]}" -rounds "$ROUNDS" -every "$ROUND_EVERY" -distill "$DISTILL" \
  -out "$D/summary.json" -timeout "$((ROUNDS + 3))m"

# Each peer saved its checkpoint at the end of the last round's
# distillation, before the coordinator scored it; the next round's opens
# seconds later, so copy them now.
while read -r n m _ _ _ home; do cp "$home/model-$m.pt" "$home/demo-after-last-round.pt"; done < "$D/peers.txt"

step "stopping the peers (they leave the directory) and the coordinator; checking the ledger"
stop "${pids[@]}"; pids=()
stop "$cpid"; cpid=''
# Every invariant, the signed chain of rounds, and the receipt of every
# settled round that each peer kept.
receipts=()
while read -r _ _ _ _ _ home; do
  [ -f "$home/receipts.jsonl" ] && receipts+=(--receipts "$home/receipts.jsonl")
done < "$D/peers.txt"
$C ledger verify --home "$D/net" "${receipts[@]}" > "$D/ledger-verify.log" 2>&1 ||
  { cat "$D/ledger-verify.log" >&2; exit 1; }
sed -n '/^ledger ok/p; /^chain/p' "$D/ledger-verify.log"
echo "receipts ok: the ledger agrees with the $(grep -c '^receipts ok' "$D/ledger-verify.log") peers' receipts"

step "results"
demo table -peers "$D/peers.txt" -summary "$D/summary.json" -home "$D/net" -client "$D/ops" \
  -grpcurl "$GRPCURL" -timeout 5m
load=$(cut -d' ' -f2 /proc/loadavg 2>/dev/null || echo '?')
printf '\ndemo: done in %s (load average %s over the last 5 minutes, %s cores); every process it\n' "$(elapsed)" "$load" "$(nproc)"
printf 'started has stopped; logs and homes in %s\n' "$D"
