#!/usr/bin/env bash
# ensure-helm.sh: builds helm (helm.sh/helm/v4, from the Go module proxy) once
# into ${ZOMBI_CACHE:-~/.cache/zombi}/helm-<version>/helm and prints its path on
# stdout. The deploy tests (deploy/) run `helm lint` and `helm template` with it.
# A cold build takes minutes (helm pulls the Kubernetes client libraries); a
# cached one answers at once. Concurrent callers wait on a lock.
#   --cached: only print the path of a helm already built; exit 4 when there is none.
set -euo pipefail

version=${HELM_VERSION:-v4.3.2}
cache=${ZOMBI_CACHE:-$HOME/.cache/zombi}
dir=$cache/helm-$version
mkdir -p "$cache"

exec 9>"$cache/helm.lock"
flock 9
if [ -x "$dir/helm" ] && "$dir/helm" version --short >/dev/null 2>&1; then
	echo "$dir/helm"
	exit 0
fi
[ "${1:-}" != --cached ] || exit 4
command -v go >/dev/null || { echo "ensure-helm: no go on PATH" >&2; exit 3; }
echo "ensure-helm: building helm $version into $dir (once; takes minutes)" >&2
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
GOBIN="$dir.tmp" go install "helm.sh/helm/v4/cmd/helm@$version" >&2
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$dir/helm"
