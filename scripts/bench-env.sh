# bench-env.sh, sourced by the bench scripts: the machine and the commit
# that every results/*.json records. The commit says "+uncommitted
# changes" when the Go code differs from it.
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
machine="$(uname -sm), ${cpu:-unknown cpu}, $(nproc) cores"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- '*.go' go.mod go.sum 2>/dev/null)" ]; then commit="$commit+uncommitted changes"; fi
