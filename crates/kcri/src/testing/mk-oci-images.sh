#!/usr/bin/env bash
# Builds an OCI image layout tarball holding two images made from the static busybox:
#   kcri.test/busybox:1  (Cmd: /bin/sh)
#   kcri.test/pause:1    (Cmd: sleep forever; used as containerd's sandbox image)
# Usage: mk-oci-images.sh OUT.tar [BUSYBOX]
# Needs: tar, sha256sum, stat. No network.
set -euo pipefail

out=$1
busybox=${2:-/bin/busybox}
[[ -x $busybox ]] || { echo "mk-oci-images: $busybox not found (install busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc" "$work/layout/blobs/sha256"
cp "$busybox" "$work/rootfs/bin/busybox"
for tool in sh echo sleep cat ls true false env id ps httpd wget mkdir nslookup hostname kill grep sed awk; do
  ln -s busybox "$work/rootfs/bin/$tool"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$work/rootfs/etc/passwd"
echo 'root:x:0:' >"$work/rootfs/etc/group"

# Fixed owner and mtime so the layer digest is reproducible.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00:00' \
  -C "$work/rootfs" -cf "$work/layer.tar" .

blob() { # FILE -> prints digest hex, moves FILE into blobs
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  mv "$1" "$work/layout/blobs/sha256/$hex"
  echo "$hex"
}
size() { stat -c %s "$work/layout/blobs/sha256/$1"; }

layer=$(blob "$work/layer.tar")
layer_size=$(size "$layer")

manifests=""
for spec in "kcri.test/busybox:1|[\"/bin/sh\"]" "kcri.test/pause:1|[\"/bin/sleep\",\"2147483647\"]"; do
  ref=${spec%%|*}
  cmd=${spec#*|}
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$cmd" "$layer" >"$work/config.json"
  config=$(blob "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$(size "$config")" "$layer" "$layer_size" >"$work/manifest.json"
  manifest=$(blob "$work/manifest.json")
  entry=$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}' \
    "$manifest" "$(size "$manifest")" "$ref" "$ref")
  manifests=${manifests:+$manifests,}$entry
done

printf '{"schemaVersion":2,"manifests":[%s]}' "$manifests" >"$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work/layout" -cf "$out" oci-layout index.json blobs
