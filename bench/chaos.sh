#!/usr/bin/env bash
# bench/chaos.sh — crash safety under load.
#
# Starts bin/gateway_service on a fresh data dir, drives it with bin/loadgen,
# SIGKILLs it at random moments (every KILL_MIN..KILL_MAX; one cycle in four
# stops it cleanly with SIGTERM instead, so the next start reads back the
# filter snapshots a clean stop saves) and restarts it on the same data dir,
# CYCLES times (default 20); then lets every request
# settle, stops it with SIGTERM and runs `bin/itctl verify` with the
# generator's exact expectations. Reports cycles, requests and violations;
# exits non-zero on any violation. Run after `make build`.
#
# Env: CYCLES, RATE (default 2000), USERS (default 2000), KILL_MIN, KILL_MAX,
# BENCH_MD, LABEL, WORK, BIN, GO.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
GO=${GO:-go}
for b in gateway_service itctl; do
	[ -x "$BIN/$b" ] || { echo "chaos: $BIN/$b missing; run make build first" >&2; exit 2; }
done
"$GO" build -o "$BIN/loadgen" ./bench/loadgen
"$GO" build -o "$BIN/chaos" ./bench/chaos
args=(-mode chaos -bin "$BIN" -config config/dev.yaml -cycles "${CYCLES:-20}"
	-rate "${RATE:-2000}" -users "${USERS:-2000}" -inflight "${INFLIGHT:-2048}"
	-kill-min "${KILL_MIN:-1s}" -kill-max "${KILL_MAX:-4s}" -label "${LABEL:-chaos}")
[ -n "${BENCH_MD:-}" ] && args+=(-md "$BENCH_MD")
[ -n "${WORK:-}" ] && args+=(-work "$WORK")
exec "$BIN/chaos" "${args[@]}"
