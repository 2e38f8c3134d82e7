#!/usr/bin/env bash
# Builds the real upstream control plane (etcd, kube-apiserver, kube-controller-manager, kubectl, kwok)
# from pinned Go modules into a per-user cache, and skips the build when the pinned outputs are present.
#
# Usage: tools/control-plane/build.sh        prints the output directory on stdout
# Env:   KUBEJIT_CONTROL_PLANE_DIR            override the output directory
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp_id="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
out="${KUBEJIT_CONTROL_PLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubejit/control-plane/${stamp_id}}"
# The stamp includes go.sum so that a change of pinned dependencies rebuilds.
want_stamp="${stamp_id} $(sha256sum "$here/go.sum" | cut -c1-16)"

log() { echo "[control-plane] $*" >&2; }

# Two callers (a test run and a sandbox) must not build into the same folder at once: the second
# waits for the first and then finds the outputs present.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
if ! flock -n 9; then
  log "another build of $out is running; waiting for it"
  flock 9
fi

if [[ -f "$out/STAMP" && "$(cat "$out/STAMP")" == "$want_stamp" ]]; then
  for f in bin/etcd bin/kube-apiserver bin/kube-controller-manager bin/kubectl bin/kwok \
           kwok-stages/pod/fast/pod-ready.yaml kwok-crds/kwok.x-k8s.io_logs.yaml; do
    [[ -e "$out/$f" ]] || { log "missing $f, rebuilding"; rm -f "$out/STAMP"; break; }
  done
  if [[ -f "$out/STAMP" ]]; then
    log "up to date: $out"
    echo "$out"
    exit 0
  fi
fi

command -v go >/dev/null || { log "Go >= 1.26 is required (https://go.dev/dl); install it and re-run"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
tmp="$out.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT

ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=37"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=2026-01-01T00:00:00Z"
done

start=$(date +%s)
log "building etcd ${ETCD_VERSION}, kube-apiserver, kube-controller-manager, kubectl ${K8S_VERSION}"
log "a cold build takes 10-30 minutes on 2 cores; later runs reuse $out"
(
  cd "$here"
  go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" \
    go.etcd.io/etcd/server/v3 \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
) &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 30
  kill -0 "$pid" 2>/dev/null && log "still building ($(( $(date +%s) - start ))s elapsed)"
done
wait "$pid"
# A module path ending in /v3 names its binary after the element before it.
mv "$tmp/bin/server" "$tmp/bin/etcd"

log "building kwok ${KWOK_VERSION} (its own module graph)"
(cd "$tmp" && GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}")
# kwok refuses to start without stage configs, and per-pod logs use its Logs CRD: ship both
# beside the binary so running never depends on the Go module cache.
kwok_src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@${KWOK_VERSION}"
cp -r "$kwok_src/kustomize/stage" "$tmp/kwok-stages"
cp -r "$kwok_src/kustomize/crd/bases" "$tmp/kwok-crds"
chmod -R u+w "$tmp/kwok-stages" "$tmp/kwok-crds"

echo "$want_stamp" > "$tmp/STAMP"
rm -rf "$out"; mkdir -p "$(dirname "$out")"; mv "$tmp" "$out"
trap - EXIT
log "built in $(( $(date +%s) - start ))s: $out"
echo "$out"
