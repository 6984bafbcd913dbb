#!/bin/bash
# The machine model shown on a small host: the VM's vCPUs are the stations
# (client, director, router, real servers) and the director's vCPU thread
# gets a host CPU quota. NAT's requests/s should stop growing with clients
# at the ceiling the light-load runs predicted before the sweep (cap over
# the director's demand), within its interval; direct, which does not use
# the director, should run the same with the cap as without.
#
# It needs a quiet machine: every vCPU thread shares the host's CPUs with
# whatever else runs, and the runs are in real time.
#   sudo bash experiments/machine-model.sh [CAP]      (CAP: host CPUs for the director, default 0.15)
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(readlink -f "${LVSLAB_BIN:-bin/lvslab}")
CAP=${1:-0.15}
OUT=$(readlink -f "${OUT:-results/machine-model}")
sweep=(--isolate --clients 1,4,16,32,64 --trials 6 --duration 2s --light-trials 6) # six: intervals at 95 %

echo "== capped: the director's vCPU at $CAP of a host CPU"
$B bench "${sweep[@]}" --modes direct,nat --cap "director=$CAP" --name mmcap --out "$OUT/capped"
echo "== uncapped: direct alone"
$B bench "${sweep[@]}" --modes direct --where vm --name mmfree --out "$OUT/uncapped"

python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
capped = json.load(open(out + "/capped/results.json"))
free = json.load(open(out + "/uncapped/results.json"))
def points(r, mode):
    return {p["clients"]: p["requests_per_s"] for p in r["points"] if p["mode"] == mode}
print("\nNAT with the director capped: measured against the ceiling predicted from light load")
for b in capped["model"]["modes"]:
    if b.get("refused"):
        print(f'  {b["mode"]:6s} no prediction: {b["refused"]}')
        continue
    c = b.get("check") or {}
    print(f'  {b["mode"]:6s} bottleneck {b["bottleneck"]:9s} ceiling {b["ceiling"]["median"]:.0f} [{b["ceiling"]["lo"]:.0f}, {b["ceiling"]["hi"]:.0f}] req/s;'
          f' at {c.get("clients")} clients measured {c.get("measured", {}).get("median", 0):.0f}: {c.get("verdict")}')
nat = points(capped, "nat")
print("  NAT req/s by clients: " + ", ".join(f'{n}: {e["median"]:.0f} [{e["lo"]:.0f}, {e["hi"]:.0f}]' for n, e in sorted(nat.items())))
print("\ndirect with and without the cap (req/s, median [interval])")
a, b = points(capped, "direct"), points(free, "direct")
for n in sorted(a):
    if n in b:
        x, y = a[n], b[n]
        overlap = x["lo"] <= y["hi"] and y["lo"] <= x["hi"]
        print(f'  {n:3d} clients: capped {x["median"]:.0f} [{x["lo"]:.0f}, {x["hi"]:.0f}], uncapped {y["median"]:.0f} [{y["lo"]:.0f}, {y["hi"]:.0f}]: '
              + ("the same within the intervals" if overlap else f'{100*(x["median"]/y["median"]-1):+.0f}%'))
# A station's CPU time per request in the sweep's trials at the top client
# count: not a prediction (it comes from the run being judged), the figure
# that says why a light-load prediction missed.
top = max(capped["config"]["clients"])
def saturated(mode, station):
    per = sorted(s["cpu_s"] / t["requests"] for t in capped["trials"] if t["mode"] == mode and t["clients"] == top and t["requests"] > 0
                 for s in t.get("stations", []) if s["station"] == station)
    return per[len(per) // 2] if per else float("nan")
print(f"\nCPU time per request (ms), capped run: under light load (the prediction's), and in the sweep at {top} clients")
for d in capped["demands"]:
    print(f'  {d["mode"]:6s} {d["station"]:9s} {1000*d["seconds"]["median"]:7.3f} [{1000*d["seconds"]["lo"]:.3f}, {1000*d["seconds"]["hi"]:.3f}]'
          f'   at {top} clients {1000*saturated(d["mode"], d["station"]):7.3f}')
EOF
