#!/usr/bin/env bash
# Installs a release tarball built by deploy/package.sh, keeping a backup of
# the installed release for rollback (docs/runbook.md, "Deploy and rollback").
#
#   install.sh [options] internal-transfer-vX.Y.Z.tar.gz   install or upgrade
#   install.sh [options] --rollback [X.Y.Z]                 restore a backup
#                                                           (default: the newest)
#   install.sh [options] --list-backups
#
# Options:
#   --prefix DIR       install directory (/opt/services/internal-transfer)
#   --backup-dir DIR   backups (/opt/services/backups)
#   --keep N           backups kept, newest first (5)
#   --no-systemd       only files: no user, units, daemon-reload or restarts
#                      (containers, tests)
#
# With systemd the script creates the internal-transfer user (sysusers),
# installs both units, reloads systemd and restarts the services that were
# running (`systemctl try-restart`), so run it with the node drained in
# HAProxy. The swap of the install directory is two renames: a crash leaves
# either the old or the new release in place, never a mix.
set -euo pipefail
shopt -s inherit_errexit

prefix=/opt/services/internal-transfer
backup_dir=/opt/services/backups
keep=5
use_systemd=1
mode=install
arg=""
units=(internal-transfer-gateway.service internal-transfer-settlement.service)

die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--backup-dir) backup_dir=${2:?--backup-dir needs a directory}; shift 2 ;;
	--keep) keep=${2:?--keep needs a number}; shift 2 ;;
	--no-systemd) use_systemd=0; shift ;;
	--rollback) mode=rollback; shift; if [ $# -gt 0 ] && [[ $1 != --* ]]; then arg=$1; shift; fi ;;
	--list-backups) mode=list; shift ;;
	-h | --help) sed -n '2,21p' "$0"; exit 0 ;;
	--*) die "unknown option $1" ;;
	*) [ -z "$arg" ] || die "one tarball at a time"; arg=$1; shift ;;
	esac
done
[[ $keep =~ ^[1-9][0-9]*$ ]] || die "--keep needs a positive number, got '$keep'"
prefix=${prefix%/}
parent=$(dirname "$prefix")
base=$(basename "$prefix")

# backup saves the installed release as $backup_dir/internal-transfer-vOLD-TIME.tar.gz.
backup() {
	[ -f "$prefix/VERSION" ] || { log "nothing installed at $prefix, no backup"; return 0; }
	local old stamp file
	old=$(tr -d ' \t\r\n' <"$prefix/VERSION")
	stamp=$(date -u +%Y%m%dT%H%M%SZ)
	mkdir -p "$backup_dir"
	file="$backup_dir/internal-transfer-v$old-$stamp.tar.gz"
	tar -C "$parent" -czf "$file.tmp" "$base"
	mv "$file.tmp" "$file"
	log "backed up v$old to $file"
	# Keep the newest $keep backups.
	ls -1t "$backup_dir"/internal-transfer-v*.tar.gz 2>/dev/null | tail -n +"$((keep + 1))" | xargs -r rm -f
}

# swap_in replaces $prefix with the release unpacked in directory $1.
swap_in() {
	local new=$1 aside="$parent/.$base.old.$$"
	[ -x "$new/bin/gateway_service" ] && [ -x "$new/bin/settlement_service" ] && [ -x "$new/bin/itctl" ] ||
		die "release in $new lacks bin/gateway_service, bin/settlement_service or bin/itctl"
	[ -f "$new/config/internal_transfer_prod.yaml" ] || die "release in $new lacks config/internal_transfer_prod.yaml"
	if [ -e "$prefix" ]; then mv "$prefix" "$aside"; fi
	mv "$new" "$prefix"
	rm -rf "$aside"
	log "installed v$(cat "$prefix/VERSION") at $prefix"
}

# unpack extracts tarball $1 (one top-level directory) into a staging
# directory next to $prefix and sets $new to that top-level directory. The
# staging directory is removed on exit, whatever happens.
stage=""
trap '[ -z "$stage" ] || rm -rf "$stage"' EXIT
unpack() {
	local tarball=$1 tops
	stage=$(mktemp -d "$parent/.$base.stage.XXXXXX")
	tar -C "$stage" -xzf "$tarball" || die "cannot unpack $tarball"
	mapfile -t tops < <(find "$stage" -mindepth 1 -maxdepth 1)
	[ "${#tops[@]}" -eq 1 ] && [ -d "${tops[0]}" ] || die "$tarball must hold exactly one top-level directory"
	new=${tops[0]}
}

systemd_setup() {
	[ "$use_systemd" -eq 1 ] || return 0
	install -D -m 0644 "$prefix/deploy/systemd/internal-transfer.sysusers" /usr/lib/sysusers.d/internal-transfer.conf
	if command -v systemd-sysusers >/dev/null; then
		systemd-sysusers /usr/lib/sysusers.d/internal-transfer.conf
	elif ! id internal-transfer >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/internal-transfer --shell /usr/sbin/nologin internal-transfer
	fi
	for u in "${units[@]}"; do
		install -m 0644 "$prefix/deploy/systemd/$u" "/etc/systemd/system/$u"
	done
	systemctl daemon-reload
	# Restart what was running; a node that runs only one of the services
	# keeps the other stopped.
	systemctl try-restart "${units[@]}"
	log "units installed; running services restarted"
}

mkdir -p "$parent"
case "$mode" in
list)
	ls -1t "$backup_dir"/internal-transfer-v*.tar.gz 2>/dev/null || log "no backups in $backup_dir"
	;;
install)
	[ -n "$arg" ] || die "usage: install.sh [options] internal-transfer-vX.Y.Z.tar.gz"
	[ -f "$arg" ] || die "no such tarball: $arg"
	if [ -f "$arg.sha256" ]; then
		(cd "$(dirname "$arg")" && sha256sum --quiet -c "$(basename "$arg").sha256") || die "checksum mismatch for $arg"
	fi
	unpack "$arg"
	backup
	swap_in "$new"
	systemd_setup
	;;
rollback)
	pattern="internal-transfer-v${arg:-*}-*.tar.gz"
	# shellcheck disable=SC2086
	file=$(ls -1t "$backup_dir"/$pattern 2>/dev/null | head -n 1 || true)
	[ -n "$file" ] || die "no backup matching $backup_dir/$pattern"
	log "rolling back to $file"
	unpack "$file"
	backup
	swap_in "$new"
	systemd_setup
	;;
esac
