#!/usr/bin/env bash
# bench-ledger: settling one round with 10, 1,000 and 10,000 payouts beside
# a baseline measured in the same run (raw inserts of the same rows in one
# transaction with the same driver). Prints each ratio (baseline time /
# settlement time, so 1.0 is as fast as the baseline and the goal is at least
# 0.5 at 10,000 payouts) and writes results/bench-ledger.json.
#
# Usage: scripts/bench-ledger.sh            (BENCHTIME=20x by default)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BENCHTIME=${BENCHTIME:-20x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$GO" test -tags libsqlite3 -run '^$' -bench '^BenchmarkSettle$' -benchtime "$BENCHTIME" -count 1 ./ledger/ | tee "$out"

cpu=$(awk -F': ' '/^cpu:/ {print $2; exit}' "$out")
machine="$(uname -sm), ${cpu:-unknown cpu}, $(nproc) cores"
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mkdir -p results

awk -v date="$date" -v machine="$machine" '
/^BenchmarkSettle\/payouts=/ {
	split($1, parts, "/")            # BenchmarkSettle, payouts=N, settle-2
	n = parts[2]; sub(/^payouts=/, "", n)
	kind = parts[3]; sub(/-[0-9]+$/, "", kind)
	ns[n, kind] = $3
	if (!(n in seen)) { seen[n] = 1; order[++count] = n }
}
END {
	if (count == 0) { print "bench-ledger: no benchmark results" > "/dev/stderr"; exit 1 }
	printf "\n%-28s %14s %14s %8s\n", "settle one round", "ns/op", "baseline", "ratio"
	json = ""
	for (i = 1; i <= count; i++) {
		n = order[i]; v = ns[n, "settle"]; base = ns[n, "baseline"]
		if (v == "" || base == "") { print "bench-ledger: missing result for " n > "/dev/stderr"; exit 1 }
		ratio = base / v
		printf "%-28s %14d %14d %8.2f\n", "payouts=" n, v, base, ratio
		sep = ","
		if (i == 1) sep = ""
		json = json sprintf("%s\n    {\"name\": \"settle/payouts=%s\", \"value\": %d, \"unit\": \"ns/op\", \"baseline\": %d, \"ratio\": %.3f}", sep, n, v, base, ratio)
		if (n == 10000) goal = ratio
	}
	printf("{\n  \"bench\": \"bench-ledger\",\n  \"date\": \"%s\",\n  \"machine\": \"%s\",\n  \"ratio\": \"baseline ns/op / settlement ns/op (goal: >= 0.5 at 10000 payouts)\",\n  \"results\": [%s\n  ]\n}\n", date, machine, json) > "results/bench-ledger.json"
	if (goal != "") {
		verdict = "NOT met"
		if (goal + 0 >= 0.5) verdict = "met"
		printf "\ngoal (ratio >= 0.5 at 10000 payouts): %s\n", verdict
	}
	print "wrote results/bench-ledger.json"
}' "$out"
