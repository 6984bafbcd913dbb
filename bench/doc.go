// Package bench owns the benchmark and the release gate: trials of the
// paper lab in every mode, their statistics, the files a run writes
// (results.json, results.txt, the figure, summary.md), the gate that
// compares a run with a baseline, its fixed thresholds, and a director
// slowed down on purpose to prove the gate. It also decides whether a
// benchmark runs on this host or in the VM.
//
// It builds labs through packages topology and harness and sends load
// through package loadgen; it must not change the root namespace, and
// leaves no lab behind, however a run ends.
package bench
