#!/bin/bash
# Packets the real servers receive per request, counted at about 1 and at
# 10 minutes of uptime, in two labs side by side: one with the lab's
# static forwarding entries (the default), one with learning bridges
# (lvslab up --switch learning). In DR and TUN the router's port on the
# real servers' segment only ever receives, so a learning bridge ages its
# address out after 300 s and floods every reply to every real server
# from then on.
#   sudo bin/lvslab vm --cpus 1 --icount shift=2,sleep=off -- bash experiments/switch-drift.sh
# MODE=tun for TUN; REQUESTS, FIRST and SECOND (seconds of uptime) to taste.
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(readlink -f "${LVSLAB_BIN:-bin/lvslab}")
MODE=${MODE:-dr}
REQUESTS=${REQUESTS:-2000}
labs=(swstatic swlearn)
$B up --name swstatic --mode "$MODE" >/dev/null
trap '$B down --name swstatic >/dev/null 2>&1 || true; $B down --name swlearn >/dev/null 2>&1 || true' EXIT
$B up --name swlearn --mode "$MODE" --switch learning >/dev/null

# received LAB: what every real server's link has received so far.
received() {
	local sum=0 n
	for ns in $(ip netns list | awk '{print $1}' | grep "^lvs-$1-rs"); do
		n=$(ip netns exec "$ns" cat /sys/class/net/back/statistics/rx_packets)
		sum=$((sum + n))
	done
	echo $sum
}
uptime_s() { cut -d. -f1 /proc/uptime; }
wait_until() { while [ "$(uptime_s)" -lt "$1" ]; do sleep 5; done; }

measure() {
	for lab in "${labs[@]}"; do
		before=$(received "$lab")
		ok=$($B load --name "$lab" --target vip --clients 4 --requests "$REQUESTS" --duration 120s --json |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["successes"])')
		after=$(received "$lab")
		python3 -c "import sys; up,lab,ok,pk=sys.argv[1:]; ok,pk=int(ok),int(pk)
print(f'uptime {up}s  {lab:9s} {ok} requests, real servers received {pk} packets: {pk/max(ok,1):.2f} per request')" \
			"$(uptime_s)" "$lab" "$ok" "$((after - before))"
	done
}
echo "$MODE labs; the switch of swstatic: static entries, of swlearn: learning, ageing time 300s"
# A first load settles what a fresh lab sends once (neighbour resolution,
# IPv6 multicast listener reports flooded to every port).
for lab in "${labs[@]}"; do
	$B load --name "$lab" --target vip --clients 4 --requests 500 --duration 60s >/dev/null
done
wait_until "${FIRST:-60}"
measure
wait_until "${SECOND:-600}"
measure
