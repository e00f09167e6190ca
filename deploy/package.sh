#!/usr/bin/env bash
# Builds the release tarball internal-transfer-v$(cat VERSION).tar.gz from an
# already built tree (`make package` runs `make build` first, then this).
#
# Usage: deploy/package.sh [OUT_DIR]      (default: the repository root)
#
# The tarball unpacks into internal-transfer-vX.Y.Z/ holding
#   bin/gateway_service bin/settlement_service bin/itctl
#   config/ schema/ deploy/ docs/ VERSION
# which deploy/install.sh installs under /opt/services/internal-transfer.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${1:-$root}
binaries=(gateway_service settlement_service itctl)

die() { echo "package.sh: $*" >&2; exit 1; }

[ -f "$root/VERSION" ] || die "no VERSION file in $root"
version=$(tr -d ' \t\r\n' <"$root/VERSION")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || die "VERSION '$version' is not X.Y.Z"

for b in "${binaries[@]}"; do
	[ -x "$root/bin/$b" ] || die "bin/$b is missing or not executable: run 'make build' first"
done
for d in config schema deploy; do
	[ -d "$root/$d" ] || die "$d/ is missing"
done

name="internal-transfer-v$version"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

dest="$stage/$name"
mkdir -p "$dest/bin"
for b in "${binaries[@]}"; do
	install -m 0755 "$root/bin/$b" "$dest/bin/$b"
done
# Operator files only: config, schema and deploy hold Go packages too (the
# config loader, the schema checker, this package's tests); ship neither
# Go sources nor test data.
for d in config schema deploy; do
	mkdir -p "$dest/$d"
	tar -C "$root/$d" -cf - --exclude='*.go' --exclude='testdata' . | tar -xf - -C "$dest/$d"
done
if [ -d "$root/docs" ]; then cp -R "$root/docs" "$dest/"; fi
cp "$root/VERSION" "$dest/VERSION"

# Reproducible: fixed order, owner, modes and mtime (the VERSION file's
# commit time when in git, else now), so the same tree gives the same
# tarball. The modes are set, not the checkout's: from a checkout made under
# umask 077, install.sh (unpacking as root, which keeps modes) would leave
# the service user unable to read its config or run its binaries.
mtime=$(git -C "$root" log -1 --format=%ct -- VERSION 2>/dev/null || true)
[ -n "$mtime" ] || mtime=$(date +%s)
tarball="$out_dir/$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' --mtime="@$mtime" \
	-C "$stage" -cf - "$name" | gzip -n -9 >"$tarball.tmp"
mv "$tarball.tmp" "$tarball"
(cd "$out_dir" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "$tarball"
