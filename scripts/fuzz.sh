#!/usr/bin/env bash
# fuzz.sh runs each fuzz target of the wire codec (distill) for FUZZTIME
# (default 5s), one after the other. A failure stops the script and leaves
# the failing input under distill/testdata/fuzz/, where `go test` replays
# it from then on.
#
# Go's fuzz coordinator before Go 1.27 can fail a target with a bare
# "context deadline exceeded" when -fuzztime runs out while a worker is
# mid-call on a loaded machine (golang/go#75804); no input is written
# then. Such a run is retried once; any other failure, and a second
# deadline, fail.
#
# Usage: scripts/fuzz.sh
# Environment: FUZZTIME (a go test -fuzztime value: 30s, 10000x), GO.
set -euo pipefail
cd "$(dirname "$0")/.."

go=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for name in FuzzDecodeTensor FuzzAssembler FuzzTopKProbs; do
	cmd=("$go" test -tags libsqlite3 -run '^$' -fuzz "^$name\$" -fuzztime "${FUZZTIME:-5s}" ./distill)
	for try in 1 2; do
		printf '+'
		printf ' %q' "${cmd[@]}"
		printf '\n'
		if "${cmd[@]}" 2>&1 | tee "$log"; then
			break
		fi
		if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$log" &&
			! grep -q 'Failing input written to' "$log" && ! grep -q '^panic:' "$log"; then
			echo "fuzz.sh: $name stopped on the fuzz coordinator's deadline race (golang/go#75804), no input written; trying once more"
			continue
		fi
		exit 1
	done
done
