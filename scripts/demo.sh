#!/usr/bin/env bash
# demo.sh: the main job on one machine. A network with a coordinator and
# three peers over mutual TLS (two mlp and one cnn on Dirichlet-0.1 shards)
# that distill from each other in scheduled rounds and earn TAO; read with
# grpcurl; live revocation; local training for comparison; the ledger
# checked. Everything it starts it stops, by PID; everything it writes lands
# in a scratch folder ($DEMO_DIR, default a new temporary folder).
#
# Environment: ROUNDS (settled rounds to wait for, 3), ROUND_EVERY (15s),
# DEMO_EPOCHS (epochs of the local-training comparison, 3).
set -euo pipefail
cd "$(dirname "$0")/.."

D=${DEMO_DIR:-$(mktemp -d -t taonet-demo.XXXXXX)}
mkdir -p "$D"
C=bin/coordinator P=bin/peer
GRPCURL=.tools/bin/grpcurl
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

# wait_for waits up to 10 s for a line matching $2 in the file $1.
wait_for() {
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

step "1. a network in $D/net: CA, coordinator certificate, ledger"
$C init --home "$D/net" --hosts localhost,127.0.0.1

peers=(alice:mlp:0/3 bob:mlp:1/3 carol:cnn:2/3)
step "2. single-use join tokens for alice, bob and carol"
for p in "${peers[@]}"; do n=${p%%:*}; $C token create --home "$D/net" --name "$n" > "$D/$n.token"; done
cat "$D/alice.token"

step "3. the coordinator: a round every ${ROUND_EVERY:-15s}"
$C serve --home "$D/net" --listen 127.0.0.1:0 --round-every "${ROUND_EVERY:-15s}" \
  --distill-timeout 8s --eval-timeout 4s > "$D/coordinator.log" 2>&1 &
pids+=($!)
wait_for "$D/coordinator.log" "listening on"
cport=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$D/coordinator.log" | head -1)

step "4. three peers enroll (own keys, CA pin checked), warm up on their shards and join"
declare -A port
for p in "${peers[@]}"; do
  IFS=: read -r n model shard <<< "$p"
  $P join --coordinator 127.0.0.1:$cport --home "$D/$n" --listen 127.0.0.1:0 \
    --model "$model" --shard "$shard" --alpha 0.1 --seed 7 --threads 1 \
    --token "$(awk '/^token:/ {print $2}' "$D/$n.token")" \
    --ca-pin "$(awk '/^ca-pin:/ {print $2}' "$D/$n.token")" > "$D/$n.log" 2>&1 &
  pids+=($!)
done
for p in "${peers[@]}"; do
  n=${p%%:*}
  wait_for "$D/$n.log" "serving on"
  port[$n]=$(sed -n 's/.*serving on 127.0.0.1:\([0-9]*\).*/\1/p' "$D/$n.log" | head -1)
done

step "5. grpcurl with a client certificate"
$C client-cert --home "$D/net" --name ops --out "$D/ops"
G=("$GRPCURL" -cacert "$D/ops/ca.pem" -cert "$D/ops/cert.pem" -key "$D/ops/key.pem")
for _ in $(seq 1200); do
  "${G[@]}" 127.0.0.1:$cport taonet.v1.Coordinator/ListPeers 2>/dev/null | grep -c '"identity"' | grep -q 3 && break
  sleep 0.5
done
echo "-- services on the coordinator"
"${G[@]}" 127.0.0.1:$cport list
echo "-- services on alice"
"${G[@]}" -servername alice.peer.taonet.local 127.0.0.1:${port[alice]} list
echo "-- the directory"
"${G[@]}" 127.0.0.1:$cport taonet.v1.Coordinator/ListPeers
echo "-- carol's live model card"
"${G[@]}" -servername carol.peer.taonet.local 127.0.0.1:${port[carol]} taonet.v1.Peer/Describe

rounds=${ROUNDS:-3}
step "6. distillation rounds: waiting for $rounds settled rounds (progress in $D/coordinator.log)"
last=0
for _ in $(seq 1200); do
  n=$("${G[@]}" -d '{"page_size": 100}' 127.0.0.1:$cport taonet.v1.Coordinator/ListRounds 2>/dev/null | grep -c ROUND_STATE_SETTLED || true)
  if [ "$n" != "$last" ]; then
    last=$n
    "${G[@]}" -d '{}' 127.0.0.1:$cport taonet.v1.Coordinator/GetRound 2>/dev/null |
      awk -v n="$n" '/"number"/ {gsub(/[",]/, "", $2); r=$2}
        /"identity"/ {gsub(/[",]/, "", $2); id=$2; sub(/.*\//, "", id)}
        /"loss"/ {gsub(/,/, "", $2); l=$2}
        /"accuracy"/ {gsub(/,/, "", $2); printf "round %s  %-6s loss %.3f  accuracy %.3f\n", r, id, l, $2}'
  fi
  [ "$n" -ge "$rounds" ] && break
  sleep 1
done
echo "-- the last round, its evaluations and payouts"
"${G[@]}" -d '{}' 127.0.0.1:$cport taonet.v1.Coordinator/GetRound
echo "-- balances and the TAO supply"
"${G[@]}" -d '{}' 127.0.0.1:$cport taonet.v1.Ledger/ListAccounts
"${G[@]}" -d '{}' 127.0.0.1:$cport taonet.v1.Ledger/GetSupply
echo "-- a client query, answered by the best peers' weighted ensemble"
printf '{"inputs": {"dtype": "DATA_TYPE_FLOAT32", "shape": [1, 784], "data": "%s"}}' "$(head -c 3136 /dev/zero | base64 -w0)" > "$D/query.json"
"${G[@]}" -d @ 127.0.0.1:$cport taonet.v1.Coordinator/Query < "$D/query.json"

step "7. live revocation of bob"
$C revoke --home "$D/net" bob
sleep 1.5
"${G[@]}" 127.0.0.1:$cport taonet.v1.Coordinator/ListPeers | grep '"identity"'

step "8. local training on the libtorch engine: the whole training split, then one non-IID shard"
epochs=${DEMO_EPOCHS:-3}
$P train --model mlp --epochs "$epochs" --home "$D/train-central"
$P train --model mlp --epochs "$epochs" --shard 0/10 --alpha 0.1 --seed 1 --home "$D/train-shard"

step "9. the ledger's invariants"
cleanup; pids=()
$C ledger verify --home "$D/net"

printf '\ndemo: done; logs and homes are in %s\n' "$D"
