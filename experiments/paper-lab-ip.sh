#!/usr/bin/env bash
# The paper lab built with plain ip commands, the way a shell script would:
# the baseline that lvslab's netlink builder is timed against
# (experiments/time-lab.sh). Same namespaces, bridges, veths, addresses and routes.
#   experiments/paper-lab-ip.sh up|down [NAME]
set -euo pipefail
name=${2:-ipref}
p="lvs-$name"
rs="rs1 rs2 rs3 rs4 rs5 rs6 rs7 rs8"
case "$1" in
up)
  for n in sw client director router $rs; do ip netns add "$p-$n"; done
  for n in client director router $rs; do
    ip -n "$p-$n" link set lo up
    ip netns exec "$p-$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  ip netns exec "$p-sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  for b in front back; do ip -n "$p-sw" link add "$b" type bridge; ip -n "$p-sw" link set "$b" up; done
  veth() { # node segment ipv4/len ipv6/len...
    local node=$1 seg=$2; shift 2
    ip -n "$p-sw" link add "$node-$seg" type veth peer name "$seg" netns "$p-$node"
    ip -n "$p-sw" link set "$node-$seg" master "$seg" up
    for a in "$@"; do ip -n "$p-$node" addr add "$a" dev "$seg" nodad 2>/dev/null || ip -n "$p-$node" addr add "$a" dev "$seg"; done
    ip -n "$p-$node" link set "$seg" up
  }
  veth client front 198.51.100.100/24 198.51.100.101/24 198.51.100.102/24 198.51.100.103/24 \
    2001:db8:1::100/64 2001:db8:1::101/64 2001:db8:1::102/64 2001:db8:1::103/64
  veth director front 198.51.100.2/24 2001:db8:1::2/64
  veth director back 192.0.2.2/24 2001:db8:2::2/64
  veth router front 198.51.100.1/24 2001:db8:1::1/64
  veth router back 192.0.2.1/24 2001:db8:2::1/64
  for n in director router; do ip netns exec "$p-$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1; done
  i=0
  for n in $rs; do
    i=$((i + 1))
    veth "$n" back "192.0.2.1$i/24" "2001:db8:2::1$i/64"
    ip -n "$p-$n" route add default via 192.0.2.1
    ip -n "$p-$n" -6 route add default via 2001:db8:2::1
  done
  ip -n "$p-client" route add 192.0.2.0/24 via 198.51.100.1
  ip -n "$p-client" -6 route add 2001:db8:2::/64 via 2001:db8:1::1
  ip -n "$p-client" route add 203.0.113.10/32 via 198.51.100.2
  ip -n "$p-client" -6 route add 2001:db8:f::10/128 via 2001:db8:1::2
  ;;
down)
  for n in sw client director router $rs; do ip netns del "$p-$n" 2>/dev/null || true; done
  ;;
*) echo "usage: $0 up|down [NAME]" >&2; exit 2 ;;
esac
