#!/bin/bash
# A DR lab under steady load, 16 clients, round after round, with the state
# that could explain a slowdown: IPVS entries by state, TIME_WAIT sockets,
# TCP counters. On debian-6.1 under QEMU TCG with -icount shift=2,sleep=off
# the rate held at ~605 req/s, then fell to ~490 from about 330 s of guest
# uptime on, whatever the lab had carried; NAT and routed labs in the same
# benchmark did not.
#   sudo bin/lvslab vm --cpus 1 --icount shift=2,sleep=off -- bash ci/dr-drift.sh
set -u
cd "$(dirname "$0")/.."
B=$(readlink -f "${LVSLAB_BIN:-bin/lvslab}")
$B up --name drift --mode dr >/dev/null || exit 1
trap '$B down --name drift >/dev/null' EXIT
ns() { ip netns exec lvs-drift-$1 "${@:2}"; }
for i in $(seq 1 ${ROUNDS:-30}); do
  r=$($B load --name drift --target vip --clients 16 --duration ${DUR:-10s} --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["requests_per_s"]), r["errors"], round(r["latency"]["p99_ms"],1), round(r["latency"]["max_ms"],1))')
  conns=$(ns director ipvsadm -Lnc | wc -l)
  states=$(ns director ipvsadm -Lnc | awk 'NR>2{print $3}' | sort | uniq -c | tr '\n' ' ')
  tw=$(ns rs1 ss -tan state time-wait | wc -l)
  ctw=$(ns client ss -tan state time-wait | wc -l)
  neigh=$(ns router ip neigh | wc -l)
  echo "round $i uptime $(cut -d" " -f1 /proc/uptime): rps/err/p99/max $r | ipvs conns $conns ($states) | rs1 tw $tw | client tw $ctw | router neigh $neigh"
  ns rs1 nstat -az TcpExtTW TcpExtTWRecycled TcpExtPAWSEstab TcpExtTCPTimeWaitOverflow TcpExtTCPSynRetrans TcpExtListenDrops TcpExtTWKilled 2>/dev/null | awk 'NR>1{printf "%s=%s ", $1,$2}'; echo
  ns client nstat -az TcpExtTCPSynRetrans TcpRetransSegs TcpExtTWRecycled 2>/dev/null | awk 'NR>1{printf "client %s=%s ", $1,$2}'; echo
done
