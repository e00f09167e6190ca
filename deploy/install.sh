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
#   --no-checksum      install a tarball that has no .sha256 file beside it
#   --check SERVICE    check the release's config for SERVICE (gateway or
#                      settlement) even if systemd does not run it here
#   --env-dir DIR      the units' environment files (/etc/default)
#
# Before anything changes, the new release's own `itctl config` loads its
# config with the node's environment files (DIR/internal-transfer and
# DIR/internal-transfer-SERVICE) for each service systemd has enabled or
# running here (and each --check): a key the release renamed or refuses
# stops the install, not the restarted service.
#
# With systemd the script creates the internal-transfer user (sysusers),
# installs both units, reloads systemd and restarts the services that were
# running (`systemctl try-restart`), so run it with the node drained in
# HAProxy. The swap of the install directory is two renames: a crash between
# them leaves the old release aside as PARENT/.NAME.old.PID, which the next
# run puts back before it does anything else; never a mix of the two.
set -euo pipefail
shopt -s inherit_errexit

prefix=/opt/services/internal-transfer
backup_dir=/opt/services/backups
keep=5
use_systemd=1
mode=install
arg=""
checksum=1
env_dir=/etc/default
checks=()
units=(internal-transfer-gateway.service internal-transfer-settlement.service)

die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--backup-dir) backup_dir=${2:?--backup-dir needs a directory}; shift 2 ;;
	--keep) keep=${2:?--keep needs a number}; shift 2 ;;
	--no-systemd) use_systemd=0; shift ;;
	--no-checksum) checksum=0; shift ;;
	--check)
		case "${2:-}" in gateway | settlement) checks+=("$2") ;; *) die "--check needs gateway or settlement" ;; esac
		shift 2 ;;
	--env-dir) env_dir=${2:?--env-dir needs a directory}; shift 2 ;;
	--rollback) mode=rollback; shift; if [ $# -gt 0 ] && [[ $1 != --* ]]; then arg=$1; shift; fi ;;
	--list-backups) mode=list; shift ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
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

# restore_aside puts back a release a crash left aside between swap_in's two
# renames (nothing at $prefix, the old release beside it).
restore_aside() {
	local aside
	[ ! -e "$prefix" ] || return 0
	for aside in "$parent/.$base.old."*; do
		[ -f "$aside/VERSION" ] || continue
		mv "$aside" "$prefix"
		log "put back v$(cat "$prefix/VERSION"), left aside at $aside by an install that stopped half-way"
		return 0
	done
}

# check_config runs the new release's itctl config for every service this
# node runs (or --check names) with that service's environment files.
check_config() {
	local new=$1 svc services=("${checks[@]}")
	if [ "$use_systemd" -eq 1 ]; then
		for svc in gateway settlement; do
			if systemctl is-enabled --quiet "internal-transfer-$svc.service" 2>/dev/null ||
				systemctl is-active --quiet "internal-transfer-$svc.service" 2>/dev/null; then
				services+=("$svc")
			fi
		done
	fi
	[ "${#services[@]}" -gt 0 ] || return 0
	if ! "$new/bin/itctl" config -h 2>&1 | grep -q -- -env-file; then
		log "this release's itctl has no config check (older than the check); config not checked"
		return 0
	fi
	for svc in $(printf '%s\n' "${services[@]}" | sort -u); do
		"$new/bin/itctl" config --config "$new/config/internal_transfer_prod.yaml" \
			--env-file "-$env_dir/internal-transfer" --env-file "-$env_dir/internal-transfer-$svc" ||
			die "the release's config would not start the $svc service with $env_dir/internal-transfer{,-$svc}: fix the key named above; nothing was changed"
		log "config checked for the $svc service"
	done
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
restore_aside
case "$mode" in
list)
	ls -1t "$backup_dir"/internal-transfer-v*.tar.gz 2>/dev/null || log "no backups in $backup_dir"
	;;
install)
	[ -n "$arg" ] || die "usage: install.sh [options] internal-transfer-vX.Y.Z.tar.gz"
	[ -f "$arg" ] || die "no such tarball: $arg"
	if [ -f "$arg.sha256" ]; then
		(cd "$(dirname "$arg")" && sha256sum --quiet -c "$(basename "$arg").sha256") || die "checksum mismatch for $arg"
	elif [ "$checksum" -eq 1 ]; then
		die "no checksum file $arg.sha256 beside the tarball (package.sh writes one; --no-checksum installs without)"
	fi
	unpack "$arg"
	check_config "$new"
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
	check_config "$new"
	backup
	swap_in "$new"
	systemd_setup
	;;
esac
