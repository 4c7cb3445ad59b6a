#!/usr/bin/env bash
# demo.sh: the main job on one machine. A network with a coordinator and two
# peers over mutual TLS, read with grpcurl; a peer trains its libtorch model
# locally; live revocation; the ledger checked. Everything it starts it
# stops, by PID; everything it writes lands in a scratch folder ($DEMO_DIR,
# default a new temporary folder).
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

step "2. single-use join tokens for alice and bob"
for n in alice bob; do $C token create --home "$D/net" --name $n > "$D/$n.token"; done
cat "$D/alice.token"

step "3. the coordinator"
$C serve --home "$D/net" --listen 127.0.0.1:0 > "$D/coordinator.log" 2>&1 &
pids+=($!)
wait_for "$D/coordinator.log" "listening on"
cport=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$D/coordinator.log" | head -1)

step "4. two peers enroll (own keys, CA pin checked) and join"
declare -A port
for n in alice bob; do
  $P join --coordinator 127.0.0.1:$cport --home "$D/$n" --listen 127.0.0.1:0 \
    --token "$(awk '/^token:/ {print $2}' "$D/$n.token")" \
    --ca-pin "$(awk '/^ca-pin:/ {print $2}' "$D/$n.token")" > "$D/$n.log" 2>&1 &
  pids+=($!)
done
for n in alice bob; do
  wait_for "$D/$n.log" "serving on"
  port[$n]=$(sed -n 's/.*serving on 127.0.0.1:\([0-9]*\).*/\1/p' "$D/$n.log" | head -1)
done

step "5. grpcurl with a client certificate"
$C client-cert --home "$D/net" --name ops --out "$D/ops"
G=("$GRPCURL" -cacert "$D/ops/ca.pem" -cert "$D/ops/cert.pem" -key "$D/ops/key.pem")
for _ in $(seq 100); do
  "${G[@]}" 127.0.0.1:$cport taonet.v1.Coordinator/ListPeers 2>/dev/null | grep -q /peer/bob && break
  sleep 0.1
done
echo "-- services on the coordinator"
"${G[@]}" 127.0.0.1:$cport list
echo "-- services on alice"
"${G[@]}" -servername alice.peer.taonet.local 127.0.0.1:${port[alice]} list
echo "-- the directory"
"${G[@]}" 127.0.0.1:$cport taonet.v1.Coordinator/ListPeers
echo "-- alice's model card"
"${G[@]}" -servername alice.peer.taonet.local 127.0.0.1:${port[alice]} taonet.v1.Peer/Describe
echo "-- the TAO supply"
"${G[@]}" 127.0.0.1:$cport taonet.v1.Ledger/GetSupply

step "6. live revocation of bob"
$C revoke --home "$D/net" bob
sleep 1.5
"${G[@]}" 127.0.0.1:$cport taonet.v1.Coordinator/ListPeers

step "7. local training on the libtorch engine: the whole training split, then one non-IID shard"
epochs=${DEMO_EPOCHS:-3}
$P train --model mlp --epochs "$epochs" --home "$D/train-central"
$P train --model mlp --epochs "$epochs" --shard 0/10 --alpha 0.1 --seed 1 --home "$D/train-shard"

step "8. the ledger's invariants"
cleanup; pids=()
$C ledger verify --home "$D/net"

printf '\ndemo: done; logs and homes are in %s\n' "$D"
