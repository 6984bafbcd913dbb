#!/usr/bin/env bash
# Can a lab killed at any point of `lvslab up` be removed? SIGKILLs
# `lvslab up` at three points: at once (before its state is in place),
# once every namespace exists, and once its supervisor has started; then
# `lvslab down --all` must remove all three labs (state, namespaces,
# processes), say so only for what it removed, and leave the root
# namespace's links, addresses, routes, rules and nftables ruleset
# byte-identical to before.
#
#   sudo bash experiments/sigkill-up.sh
#
# It runs itself inside a VM (lvslab vm), where it is alone: down --all
# removes every lab of the machine it runs on, so never on a shared host.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(readlink -f "${LVSLAB_BIN:-bin/lvslab}")
if [ "${LVSLAB_SIGKILL_GUEST:-}" != 1 ]; then
	exec "$BIN" vm -- env LVSLAB_SIGKILL_GUEST=1 LVSLAB_BIN="$BIN" bash experiments/sigkill-up.sh
fi

snapshot() {
	ip -d link show
	ip -d addr show
	ip route show table all
	ip -6 route show table all
	ip rule show
	ip -6 rule show
	nft list ruleset
}

# leftovers LAB: what the lab has on this machine, one line each.
leftovers() {
	ls -1a /run/lvslab 2>/dev/null | grep -E "^(\.new-)?$1(-|$)" | sed 's/^/state: /' || true
	ls -1 /run/netns 2>/dev/null | grep -E "^lvs-$1-" | sed 's/^/namespace: /' || true
	pgrep -af "supervise --name $1( |$)" | sed 's/^/process: /' || true
}

# killat LAB CONDITION: starts lvslab up, SIGKILLs it as soon as CONDITION
# (a shell test, polled) holds, and shows what the lab had then.
killat() {
	local lab=$1 cond=$2
	"$BIN" up --name "$lab" --topology small >/dev/null 2>&1 &
	local pid=$!
	until eval "$cond"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "FAIL: lvslab up of $lab ended before: $cond"
			exit 1
		fi
	done
	if ! kill -KILL "$pid" 2>/dev/null; then
		echo "FAIL: lvslab up of $lab finished before it could be killed at: $cond"
		exit 1
	fi
	wait "$pid" 2>/dev/null || true
	echo "== $lab: SIGKILLed when [$(echo $cond)] held; it left:"
	leftovers "$lab" | sed 's/^/   /'
}

snapshot >/tmp/root-before
# Polled with shell tests alone (no fork): fast enough to land inside each step.
# 1. its state directory is being claimed (filled under a temporary name)
#    or has just been renamed into place: before any namespace;
# 2. all 6 namespaces exist (switch, client, director, router, rs1, rs2);
# 3. its supervisor has started and recorded itself, before up saw it answer.
killat hdbefore 'compgen -G "/run/lvslab/.new-hdbefore-*" >/dev/null || [ -e /run/lvslab/hdbefore ]'
killat hdnetns '[ -e /run/netns/lvs-hdnetns-rs2 ] && [ -e /run/netns/lvs-hdnetns-sw ] && [ -e /run/netns/lvs-hdnetns-client ] &&
	[ -e /run/netns/lvs-hdnetns-director ] && [ -e /run/netns/lvs-hdnetns-router ] && [ -e /run/netns/lvs-hdnetns-rs1 ]'
killat hdsuper 'compgen -G "/run/lvslab/hdsuper/process-*.json" >/dev/null'

echo "== lvslab down --all"
"$BIN" down --all
echo "== after it:"
left=$(for lab in hdbefore hdnetns hdsuper; do leftovers "$lab"; done)
if [ -e /run/lvslab ]; then ls -1a /run/lvslab | sed 's/^/   state root: /'; else echo "   state root /run/lvslab: gone"; fi
snapshot >/tmp/root-after
status=0
if [ -n "$left" ]; then
	echo "FAIL: left behind:"
	echo "$left"
	status=1
fi
if cmp -s /tmp/root-before /tmp/root-after; then
	echo "root namespace: links, addresses, routes, rules and nftables ruleset byte-identical ($(wc -c </tmp/root-before) bytes)"
else
	echo "FAIL: the root namespace changed:"
	diff /tmp/root-before /tmp/root-after || true
	status=1
fi
[ "$status" = 0 ] && echo "PASS: every lab removed, nothing left"
exit "$status"
