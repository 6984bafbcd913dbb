#!/bin/sh
# What lvslab check needs to know of one of your directors, read only.
# Run it as root on each director, then give lvslab check --capture DIR:
#
#   sh capture.sh DIR/NAME
#
# NAME is the director's name in the check: its config id (--config-id)
# or its file's name without .conf (lb1 for --keepalived lb1.conf). It
# writes the director's interfaces, addresses, routes, IPVS and interface
# sysctls, the firewall rules that may set fwmarks, the IPVS table and
# the versions, and changes nothing.
set -eu
out=${1:?usage: sh capture.sh DIR/NAME}
mkdir -p "$out"
ip -j -d link show >"$out/link.json"
ip -j addr show >"$out/addr.json"
ip -j -4 route show table all >"$out/route.json"
ip -j -6 route show table all >"$out/route6.json" 2>/dev/null || echo '[]' >"$out/route6.json"
{ sysctl net.ipv4.ip_forward net.ipv4.conf net.ipv6.conf.all.forwarding 2>/dev/null
  sysctl net.ipv4.vs 2>/dev/null || true; } >"$out/sysctl.txt"
if command -v nft >/dev/null 2>&1; then nft list ruleset >"$out/nft.txt" 2>/dev/null || true; fi
if command -v iptables-save >/dev/null 2>&1; then iptables-save -t mangle >"$out/iptables-mangle.txt" 2>/dev/null || true; fi
if command -v ipvsadm >/dev/null 2>&1; then ipvsadm -S -n >"$out/ipvsadm.txt" 2>/dev/null || true; fi
uname -r >"$out/kernel.txt"
{ keepalived -v 2>&1 | head -n 1; } >"$out/keepalived.txt" 2>/dev/null || true
echo "captured $(hostname) into $out" >&2
