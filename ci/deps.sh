#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages lvslab's tests and benchmarks use,
# only those missing, so a second run costs nothing.
#   iproute2  ip netns exec, to enter a lab by hand
#   nftables  the root-namespace ruleset check, fwmark services
#   ipvsadm   the reference view of the IPVS table
#   wrk       the reference load generator
#   qemu-system-x86, kmod   the VM runner (boot a kernel with IPVS; depmod)
#   debian-archive-keyring  Debian's archive key: lvslab kernels fetch checks the pinned
#                           kernels' archive with it (on Ubuntu too)
#   keepalived  the director pair of the ha suite and lvslab failover (VRRP,
#               health checks, the sync daemon); its own service stays idle
#               without /etc/keepalived/keepalived.conf, which lvslab never writes; its samples
#               (/usr/share/doc/keepalived/samples) are what the byo specs check lvslab check against
set -euo pipefail
want=(
  iproute2
  nftables
  ipvsadm
  wrk
  qemu-system-x86
  kmod
  debian-archive-keyring
  keepalived
)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "lvslab needs these packages: ${missing[*]}; run as root (sudo make …) to install them" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
