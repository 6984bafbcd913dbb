#!/usr/bin/env bash
# Times "lvslab up" and "lvslab down" of the paper lab, and the same lab
# built by plain ip commands (experiments/paper-lab-ip.sh), N rounds each; prints
# the median and the worst. Run as root from the repository: sudo experiments/time-lab.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
bin=${LVSLAB_BIN:-bin/lvslab}
ms() { echo $(( ($2 - $1) / 1000000 )); }
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %d ms, worst %d ms (%d rounds)\n", a[int((NR+1)/2)], a[NR], NR}'; }
run() { # label, up command, down command
  local up=() down=()
  for _ in $(seq "$n"); do
    t0=$(date +%s%N); eval "$2" >/dev/null; t1=$(date +%s%N); eval "$3" >/dev/null 2>&1; t2=$(date +%s%N)
    up+=("$(ms "$t0" "$t1")"); down+=("$(ms "$t1" "$t2")")
  done
  printf '%-28s up:   %s\n' "$1" "$(printf '%s\n' "${up[@]}" | stats)"
  printf '%-28s down: %s\n' "" "$(printf '%s\n' "${down[@]}" | stats)"
}
run "lvslab (netlink, + servers)" "$bin up --name timing" "$bin down --name timing"
run "ip commands (no servers)" "bash experiments/paper-lab-ip.sh up ipref" "bash experiments/paper-lab-ip.sh down ipref"
