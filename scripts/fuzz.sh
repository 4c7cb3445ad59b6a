#!/usr/bin/env bash
# fuzz.sh runs each fuzz target of the wire codec (distill) for FUZZTIME
# (default 5s), one after the other. A failure stops the script and leaves
# the failing input under distill/testdata/fuzz/, where `go test` replays
# it from then on.
#
# Usage: scripts/fuzz.sh
# Environment: FUZZTIME (a go test -fuzztime value: 30s, 10000x), GO.
set -euo pipefail
cd "$(dirname "$0")/.."

go=${GO:-go}
for name in FuzzDecodeTensor FuzzAssembler FuzzTopKProbs; do
	cmd=("$go" test -tags libsqlite3 -run '^$' -fuzz "^$name\$" -fuzztime "${FUZZTIME:-5s}" ./distill)
	printf '+'
	printf ' %q' "${cmd[@]}"
	printf '\n'
	"${cmd[@]}"
done
