#!/usr/bin/env bash
# bench/bench.sh [bench|overload] — the whole-system benchmark.
#
# Starts bin/gateway_service (embedded backends) on a fresh temp data dir and
# free ports, drives it with bin/loadgen, waits until every accepted request
# is final (/metrics internal_transfer_pending_count == 0, bounded), stops it
# with SIGTERM, runs `bin/itctl verify` with the generator's expectations and
# prints the table. Exits non-zero on any violation. Run after `make build`.
#
#   bench     (default) RATE=5000 USERS=10000 DURATION=60s
#   overload  RATE=12000 INFLIGHT=4096 (about 2x what this 2-core box sustains
#             in the closed loop, about 6K/s; see docs/benchmarks.md, where
#             measure.sh offers 2x its own closed-loop median) with the
#             service's pipeline bounded at
#             IT_ACTORS_IN_FLIGHT_MAX=${SERVICE_INFLIGHT:-256}: the excess must
#             get 503 quickly, accepted latency and the service's RSS must stay
#             bounded (max RSS sampled from /proc/PID/status), no violations.
#
# Env: RATE (0 = closed loop at CONCURRENCY), USERS, DURATION, CONCURRENCY,
# INFLIGHT, BENCH_MD (append the row to this markdown file), LABEL, WORK (keep
# data, logs and results there), PROFILE (e.g. 20s: CPU-profile the service through its /debug/pprof),
# BIN, GO.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-bench}
BIN=${BIN:-bin}
GO=${GO:-go}
case "$mode" in
bench) rate=${RATE:-5000} inflight=${INFLIGHT:-2048} ;;
overload)
	rate=${RATE:-12000} inflight=${INFLIGHT:-4096}
	export IT_ACTORS_IN_FLIGHT_MAX=${SERVICE_INFLIGHT:-256}
	;;
*) echo "usage: $0 [bench|overload]" >&2; exit 2 ;;
esac
for b in gateway_service itctl; do
	[ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing; run make build first" >&2; exit 2; }
done
"$GO" build -o "$BIN/loadgen" ./bench/loadgen
"$GO" build -o "$BIN/chaos" ./bench/chaos
args=(-mode "$mode" -bin "$BIN" -config config/dev.yaml -rate "$rate"
	-users "${USERS:-10000}" -duration "${DURATION:-60s}"
	-concurrency "${CONCURRENCY:-64}" -inflight "$inflight" -label "${LABEL:-$mode}")
[ -n "${BENCH_MD:-}" ] && args+=(-md "$BENCH_MD")
[ -n "${WORK:-}" ] && args+=(-work "$WORK")
[ -n "${PROFILE:-}" ] && args+=(-profile "$PROFILE")
exec "$BIN/chaos" "${args[@]}"
