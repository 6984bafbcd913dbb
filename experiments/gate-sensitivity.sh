#!/usr/bin/env bash
# How sensitive is the release gate? Against a fresh baseline of this build,
# RUNS benchmarks whose director is slowed by RULES nftables rules (about
# 10 % off NAT's ratio to direct) must each FAIL `lvslab gate`, and RUNS
# benchmarks of the same build must each PASS. Slow and clean runs alternate
# so that drift hits both. Prints both counts and exits non-zero unless all
# 2×RUNS verdicts are right.
#
#   sudo bash experiments/gate-sensitivity.sh [RUNS=5] [RULES=80] [MARGIN=5%]
#
# On a kernel without ip_vs it runs itself inside one VM (lvslab vm) whose
# clock counts executed instructions, as lvslab bench does.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5} RULES=${2:-80} MARGIN=${3:-5%}
BIN=$(readlink -f "${LVSLAB_BIN:-bin/lvslab}")
OUT=results/gate-sensitivity
if ! { [ -e /proc/net/ip_vs ] || modprobe -q ip_vs 2>/dev/null; }; then
	mkdir -p "$OUT"
	exec "$BIN" vm --cpus 1 --icount shift=2,sleep=off --timeout 3h --out results -- bash experiments/gate-sensitivity.sh "$RUNS" "$RULES" "$MARGIN"
fi
mkdir -p "$OUT"
sweep=(--where host --modes direct,nat,dr --clients 16 --trials 6 --duration 1s --warmup 300ms --latency 0)
bench() {
	"$BIN" bench "${sweep[@]}" "$@" >"$OUT/bench.log" 2>&1 || { cat "$OUT/bench.log"; exit 1; }
}
# gate DIR WANT: runs the gate on DIR, prints one line, says whether the verdict is WANT.
gate() {
	local status=0
	"$BIN" gate --margin "$MARGIN" --baseline "$OUT/baseline.json" "$1/results.json" >"$1/gate.txt" || status=$?
	local verdict=pass
	case $status in 0) ;; 1) verdict=FAIL ;; *) cat "$1/gate.txt"; exit 1 ;; esac
	local changes
	changes=$(awk '$1 ~ /clients=/ { printf "%s %s  ", $1, $8 }' "$1/gate.txt")
	local right=wrong
	[ "$verdict" = "$2" ] && right=right
	printf '%-22s %s-> %s (%s)\n' "$(basename "$1")" "$changes" "$verdict" "$right"
	[ "$verdict" = "$2" ]
}
echo "baseline: the same build, $(echo "${sweep[@]}" | sed 's/--where host //')"
bench --out "$OUT/baseline" --save-baseline "$OUT/baseline.json"
caught=0 passed=0
for i in $(seq "$RUNS"); do
	bench --out "$OUT/slowed-$i" --director-rules "$RULES"
	if gate "$OUT/slowed-$i" FAIL; then caught=$((caught + 1)); fi
	bench --out "$OUT/same-$i"
	if gate "$OUT/same-$i" pass; then passed=$((passed + 1)); fi
done
echo "director slowed by $RULES nftables rules: gate failed $caught of $RUNS runs (want $RUNS)"
echo "same build:                         gate passed $passed of $RUNS runs (want $RUNS)"
[ "$caught" = "$RUNS" ] && [ "$passed" = "$RUNS" ]
