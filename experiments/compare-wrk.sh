#!/usr/bin/env bash
# lvslab load against wrk, from the client namespace of a paper lab to one
# real server (rs3), the same number of connections in all, one connection
# per request and keep-alive, in three pairings:
#   equal     wrk -t1 against lvslab --procs 1 (the same CPU for each tool)
#   default   wrk -t2 against lvslab as it runs by default (every CPU)
#   together  wrk -t1 and lvslab --procs 1 at the same time, half of the
#             connections each: the same load at the same moments, so
#             their latency percentiles can be compared without the
#             round-to-round swings of the server's own tail
# Rounds alternate which tool goes first (together: both start at once).
# For each pairing and connection mode it prints every round, then the
# median (and min-max) of lvslab's rate over wrk's, each tool's CPU-seconds
# per 1,000 requests (user + system of the whole process, from the shell's
# getrusage of the child: the figure that depends least on what else the
# machine runs) and the ratio of the latency percentiles. wrk corrects its
# latencies for coordinated omission before it prints them (stats_correct in
# its src/stats.c), so they are compared with lvslab's latency_corrected,
# the same correction of the same samples; lvslab's own, uncorrected figures
# are shown beside. wrk starts a request's clock at its first write, once
# epoll reports the new connection writable; lvslab by default before it
# connects (WebBench's time per connection, the handshake and the server's
# accept included), and sends at once. lvslab runs as users run it
# (LATENCY_FROM=connect), for what it costs; LATENCY_FROM=write runs it with
# --latency-from write, which sends and times a new connection's request as
# wrk does, for the latency.
#
#   sudo experiments/compare-wrk.sh [CONNECTIONS] [SECONDS] [ROUNDS]     (16 5 5)
#   PAIRINGS="equal default" (or together) MODES="close keepalive" LATENCY_FROM=connect PIN=1 LAB=wrkcmp LVSLAB_BIN=bin/lvslab
#
# Equal CPU is meant literally: on a machine of two CPUs or more, in the
# equal pairing, the lab's real servers run on its first CPU and the tool
# measured on its second. PIN=0 leaves them where the kernel puts them,
# and a tool's rate then moves with where its threads land beside the
# server's. Together, the tools are not pinned: two tools confined to one
# CPU while the servers have another make the tools' CPU the bottleneck,
# and each tool's latency then holds its own turnaround. (Both measured:
# docs/findings.md.) In a one-CPU VM everything shares the one CPU and the
# servers' work dominates.
#
# Throughput ratios need a quiet machine: the script says so when the load
# average is high.
set -euo pipefail
cd "$(dirname "$0")/.."
c=${1:-16}; d=${2:-5}; rounds=${3:-5}
pairings=${PAIRINGS:-equal default}
modes=${MODES:-close keepalive}
latency_from=${LATENCY_FROM:-connect}
pin=${PIN:-1}
lab=${LAB:-wrkcmp}
bin=${LVSLAB_BIN:-bin/lvslab}
command -v wrk >/dev/null || { echo "wrk is not installed: run ci/deps.sh (or apt-get install wrk)" >&2; exit 1; }
[ -x "$bin" ] || { echo "$bin is missing: run make build" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces): sudo $0 $*" >&2; exit 1; }
for v in "$c" "$d" "$rounds"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "CONNECTIONS, SECONDS and ROUNDS must be positive integers, got '$v'" >&2; exit 2; }
done
for p in $pairings; do
  case $p in
    equal | default) ;;
    together) [ $((c % 2)) = 0 ] ||
      { echo "PAIRINGS=together splits CONNECTIONS evenly between the tools: give an even number, got $c" >&2; exit 2; } ;;
    *) echo "PAIRINGS: '$p' is not equal, default or together" >&2; exit 2 ;;
  esac
done
for m in $modes; do
  case $m in close | keepalive) ;; *) echo "MODES: '$m' is not close or keepalive" >&2; exit 2 ;; esac
done
case $latency_from in connect | write) ;; *) echo "LATENCY_FROM: '$latency_from' is not connect or write" >&2; exit 2 ;; esac
case $pin in 0 | 1) ;; *) echo "PIN: '$pin' is not 0 or 1" >&2; exit 2 ;; esac

# The online CPUs this script may use, in order (taskset prints "0-3,6").
cpus=()
IFS=, read -ra ranges <<<"$(taskset -cp $$ | sed 's/.*: //')"
for r in "${ranges[@]}"; do
  if [[ $r == *-* ]]; then for ((i = ${r%-*}; i <= ${r#*-}; i++)); do cpus+=("$i"); done; else cpus+=("$r"); fi
done
[[ " $pairings " == *" equal "* ]] || pin=0
unpinned="not pinned"
if [ "$pin" = 1 ] && [ "${#cpus[@]}" -lt 2 ]; then
  pin=0; unpinned="not pinned: one CPU"
fi

tmp=$(mktemp -d)
"$bin" up --name "$lab" >/dev/null
# On the way out, a tool still running in the background (together) goes
# first: its subshell and what the subshell started.
trap 'for j in $(jobs -p); do pkill -P "$j"; kill "$j"; done 2>/dev/null || true; wait; "$bin" down --name "$lab" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
ns=lvs-$lab-client
supervisor=$(pgrep -f -- "^[^ ]+ supervise --name $lab( |\$)" | head -1) || true
[ "$pin" = 0 ] || [ -n "$supervisor" ] || { echo "the lab's real servers (lvslab supervise --name $lab) are not running" >&2; exit 1; }
tool=() # the command prefix that places a tool
# place PAIRING: where the server and the tools run for that pairing. A Go
# process re-reads its CPU mask at most once a second and then changes its
# GOMAXPROCS, with a pause: an unmeasured load lets that happen before the
# first round.
place() {
  [ "$pin" = 1 ] || return 0
  local all; all=$(IFS=,; echo "${cpus[*]}")
  if [ "$1" = equal ]; then
    tool=(taskset -c "${cpus[1]}"); taskset -a -p -c "${cpus[0]}" "$supervisor" >/dev/null
  else
    tool=(); taskset -a -p -c "$all" "$supervisor" >/dev/null
  fi
  ip netns exec "$ns" wrk -t1 -c1 -d2s "$url" >/dev/null
}
url=http://192.0.2.13/ # rs3 of the paper lab (lvslab load --target rs3)

read -r load1 _ < /proc/loadavg
ncpu=$(nproc)
placed=$([ "$pin" = 1 ] && echo "equal CPU: real servers on CPU ${cpus[0]}, each tool on CPU ${cpus[1]}" || echo "$unpinned")
echo "# $(date -u +%FT%TZ) $(uname -r), $ncpu CPUs, load average $load1; $c connections, ${d}s rounds, $rounds rounds, lvslab latency from $latency_from; $placed; lvslab $(git describe --always --dirty 2>/dev/null || echo "?")"
if awk -v l="$load1" -v n="$ncpu" 'BEGIN { exit !(l > 0.25 * n) }'; then
  echo "# the machine is busy (load average $load1 on $ncpu CPUs): rate ratios are unreliable; CPU per 1,000 requests holds better"
fi

# ms converts wrk's "627.00us", "1.72ms", "1.05s" to milliseconds.
ms() { awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0;
  if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; printf "%.3f", n }'; }

TIMEFORMAT='%3U %3S'
# run_wrk THREADS MODE CONNECTIONS OUT -> "rate requests cpu_s p50 p90 p99" (ms) in OUT
run_wrk() {
  local hdr=()
  [ "$2" = close ] && hdr=(-H "Connection: close")
  { time "${tool[@]}" ip netns exec "$ns" wrk -t"$1" -c"$3" -d"${d}s" --latency "${hdr[@]}" "$url" >"$4.txt" 2>&1; } 2>"$4.time"
  local rate reqs p50 p90 p99
  rate=$(awk '/^Requests\/sec/ {print $2}' "$4.txt")
  reqs=$(awk '/requests in/ {print $1}' "$4.txt")
  p50=$(ms "$(awk '$1 == "50%" {print $2}' "$4.txt")")
  p90=$(ms "$(awk '$1 == "90%" {print $2}' "$4.txt")")
  p99=$(ms "$(awk '$1 == "99%" {print $2}' "$4.txt")")
  [ -n "$rate" ] && [ -n "$reqs" ] || { echo "wrk gave no result:" >&2; cat "$4.txt" >&2; return 1; }
  echo "$rate $reqs $(awk '{print $1 + $2}' "$4.time") $p50 $p90 $p99" >"$4"
}
# run_lvslab PROCS MODE CONNECTIONS OUT (PROCS 0: lvslab's default) -> the
# same, then lvslab's uncorrected p50 p90 p99
run_lvslab() {
  local out=$4 flags=(--name "$lab" --target rs3 --clients "$3" --duration "${d}s" --latency-from "$latency_from" --json)
  [ "$1" != 0 ] && flags+=(--procs "$1")
  [ "$2" = keepalive ] && flags+=(--keepalive)
  { time "${tool[@]}" "$bin" load "${flags[@]}" >"$4.json" 2>"$4.err"; } 2>"$4.time" ||
    { echo "lvslab load failed:" >&2; cat "$4.err" >&2; return 1; }
  # field KEY [BLOCK]: the first KEY, or the first after "BLOCK".
  field() { awk -v k="\"$1\":" -v b="\"${2:-}\":" '$1 == b { f = 1 } (f || b == "\"\":") && $1 == k {
    gsub(/[^0-9.e+-]/, "", $2); print $2; exit }' "$out.json"; }
  echo "$(field requests_per_s) $(field requests) $(awk '{print $1 + $2}' "$4.time")" \
    "$(field p50_ms latency_corrected) $(field p90_ms latency_corrected) $(field p99_ms latency_corrected)" \
    "$(field p50_ms latency) $(field p90_ms latency) $(field p99_ms latency)" >"$4"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.4g-%.4g", lo, hi }'; }

steps=0; for _ in $pairings; do for _ in $modes; do steps=$((steps + rounds)); done; done
step=0; started=$(date +%s)
for pairing in $pairings; do
  cw_=$c; cl_=$c
  case $pairing in
    equal) wt=1; procs=1; what="equal CPU: wrk -t1, lvslab --procs 1" ;;
    default) wt=2; procs=0; what="default: wrk -t2, lvslab on every CPU" ;;
    together) wt=1; procs=1; cw_=$((c / 2)); cl_=$((c / 2))
      what="together: wrk -t1 -c$cw_ and lvslab --procs 1 --clients $cl_ at the same time" ;;
  esac
  place "$pairing"
  for mode in $modes; do
    echo
    echo "## $what; $mode ($( [ "$mode" = close ] && echo "one connection per request" || echo "keep-alive"))"
    printf '%-5s %-6s %10s %10s %7s  %-24s %-22s %-22s\n' round first "wrk req/s" "lvs req/s" ratio \
      "CPU-ms/1k req: wrk lvs" "latency lvs/wrk p50 p90 p99" "(lvs uncorrected)"
    : >"$tmp/rows"
    for r in $(seq "$rounds"); do
      elapsed=$(($(date +%s) - started))
      left=$(( step > 0 ? elapsed * (steps - step) / step : 2 * d * (steps - step) ))
      echo "compare-wrk: $pairing $mode round $r of $rounds (step $((step + 1)) of $steps), about ${left}s left" >&2
      if [ "$pairing" = together ]; then
        # The same load and the same moments: whatever stalls the server
        # stalls both, so their percentiles differ only by what each measures.
        first=both
        run_wrk "$wt" "$mode" "$cw_" "$tmp/w" & pw=$!
        run_lvslab "$procs" "$mode" "$cl_" "$tmp/l" & pl=$!
        ok=1; wait "$pw" || ok=0; wait "$pl" || ok=0
        [ "$ok" = 1 ] || exit 1
      elif [ $((r % 2)) = 1 ]; then
        first=wrk; run_wrk "$wt" "$mode" "$cw_" "$tmp/w"; run_lvslab "$procs" "$mode" "$cl_" "$tmp/l"
      else
        first=lvslab; run_lvslab "$procs" "$mode" "$cl_" "$tmp/l"; run_wrk "$wt" "$mode" "$cw_" "$tmp/w"
      fi
      # shellcheck disable=SC2046
      set -- $(cat "$tmp/w" "$tmp/l")
      # row: rates, rate ratio, CPU per 1,000 requests, latency ratios
      # (corrected, then lvslab's uncorrected over wrk's), then each tool's
      # own p50 p90 p99 in ms (wrk, lvslab corrected).
      row=$(awk -v wr="$1" -v wn="$2" -v wc="$3" -v w50="$4" -v w90="$5" -v w99="$6" \
                -v lr="$7" -v ln="$8" -v lc="$9" -v l50="${10}" -v l90="${11}" -v l99="${12}" \
                -v r50="${13}" -v r90="${14}" -v r99="${15}" 'BEGIN {
        printf "%s %s %s %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %s %s %s %s %s %s\n", wr, lr, lr / wr, 1e6 * wc / wn, 1e6 * lc / ln,
          l50 / w50, l90 / w90, l99 / w99, r50 / w50, r90 / w90, r99 / w99, w50, w90, w99, l50, l90, l99 }')
      echo "$row" >>"$tmp/rows"
      # shellcheck disable=SC2086
      set -- $row
      printf '%-5s %-6s %10.0f %10.0f %6.1f%%  %8.1f %8.1f %5.2fx   %6.2f %6.2f %6.2f   %6.2f %6.2f %6.2f\n' "$r" "$first" "$1" "$2" \
        "$(echo "100 * $3" | bc -l)" "$4" "$5" "$(echo "$5 / $4" | bc -l)" "$6" "$7" "$8" "$9" "${10}" "${11}"
      step=$((step + 1))
    done
    col() { awk -v k="$1" '{print $k}' "$tmp/rows"; }
    rate=$(col 3 | median); rs=$(col 3 | spread)
    cw=$(col 4 | median); cl=$(col 5 | median)
    cr=$(awk '{print $5 / $4}' "$tmp/rows" | median); crs=$(awk '{print $5 / $4}' "$tmp/rows" | spread)
    printf 'median lvslab/wrk rate %.3f (min-max %s); CPU-ms per 1,000 requests wrk %.1f, lvslab %.1f: lvslab/wrk %.3f (min-max %s)\n' \
      "$rate" "$rs" "$cw" "$cl" "$cr" "$crs"
    printf 'median latency lvslab/wrk, both corrected as wrk does: p50 %.2f, p90 %.2f, p99 %.2f (lvslab uncorrected: %.2f, %.2f, %.2f)\n' \
      "$(col 6 | median)" "$(col 7 | median)" "$(col 8 | median)" "$(col 9 | median)" "$(col 10 | median)" "$(col 11 | median)"
    # Each tool's own percentiles over the rounds: a p99 that moves by more
    # than 10 % from round to round in wrk alone cannot be matched to 10 %
    # in one round.
    printf 'latency ms, median (min-max) of the rounds: wrk p50 %.3f (%s), p90 %.3f (%s), p99 %.3f (%s)\n' \
      "$(col 12 | median)" "$(col 12 | spread)" "$(col 13 | median)" "$(col 13 | spread)" "$(col 14 | median)" "$(col 14 | spread)"
    printf '                             lvslab (corrected) p50 %.3f (%s), p90 %.3f (%s), p99 %.3f (%s)\n' \
      "$(col 15 | median)" "$(col 15 | spread)" "$(col 16 | median)" "$(col 16 | spread)" "$(col 17 | median)" "$(col 17 | spread)"
  done
done
