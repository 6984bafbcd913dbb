#!/usr/bin/env bash
# The CLI in every LVS mode, as a user drives it (run it where the kernel
# has ip_vs, or inside the VM: bin/lvslab vm -- bash experiments/modes-cli.sh):
# up, load through the VIP, status against ipvsadm line for line, down.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LVSLAB_BIN:-bin/lvslab}
for mode in nat dr tun; do
  echo "== $mode"
  "$bin" up --name cli --mode "$mode" >/dev/null
  trap '"$bin" down --name cli >/dev/null 2>&1' EXIT
  "$bin" load --name cli --target vip --clients 8 --requests 400 --duration 60s | sed -n '2,4p;6p'
  sleep 3 # IPVS folds its per-CPU counters every 2 s
  for flags in "" "--stats"; do
    if diff <("$bin" status --name cli $flags | sed -n '/^IP Virtual Server/,$p') \
            <(ip netns exec lvs-cli-director ipvsadm -Ln $flags); then
      echo "lvslab status $flags and ipvsadm -Ln $flags agree ($(ip netns exec lvs-cli-director ipvsadm -Ln $flags | wc -l) lines)"
    else
      echo "lvslab status $flags and ipvsadm -Ln $flags differ" >&2; exit 1
    fi
  done
  "$bin" status --name cli --stats | head -5
  "$bin" down --name cli >/dev/null
  trap - EXIT
done
