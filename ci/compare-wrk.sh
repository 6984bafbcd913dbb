#!/usr/bin/env bash
# lvslab load against wrk, back to back, same concurrency, one real server
# (rs3) of the paper lab, from the client namespace: one connection per
# request, then keep-alive. Prints both rates, the ratio and lvslab's CPU.
# Keep-alive runs lvslab with --procs 1 (set KEEPALIVE_PROCS=0 for Go's
# default): on a 2-CPU machine that leaves a CPU to the server under test.
#   sudo ci/compare-wrk.sh [CLIENTS] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
c=${1:-16}; d=${2:-10}; rounds=${3:-3}
bin=${LVSLAB_BIN:-bin/lvslab}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
"$bin" up --name wrkcmp >/dev/null
trap '"$bin" down --name wrkcmp >/dev/null 2>&1' EXIT
url=http://192.0.2.13/
for mode in close keepalive; do
  hdr=(); flag=()
  [ "$mode" = close ] && hdr=(-H "Connection: close") || flag=(--keepalive --procs "${KEEPALIVE_PROCS:-1}")
  for r in $(seq "$rounds"); do
    w=$(ip netns exec lvs-wrkcmp-client wrk -t2 -c"$c" -d"${d}s" "${hdr[@]}" "$url" | awk '/Requests\/sec/ {print $2}')
    j=$("$bin" load --name wrkcmp --target rs3 --clients "$c" --duration "${d}s" "${flag[@]}" --json)
    set -- "$(echo "$j" | sed -n 's/.*"requests_per_s": \([0-9.]*\).*/\1/p')" "$(echo "$j" | sed -n 's/.*"cores": \([0-9.]*\).*/\1/p')"
    printf '%-10s round %d: wrk %8.0f req/s   lvslab %8.0f req/s   ratio %5.1f%%   lvslab CPU %.2f cores\n' \
      "$mode" "$r" "$w" "$1" "$(echo "100*$1/$w" | bc -l)" "$2"
  done
done
