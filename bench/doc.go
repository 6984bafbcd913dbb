// Package bench owns the benchmark and the release gate: trials of the
// paper lab in every mode, their statistics, the files a run writes
// (results.json, results.txt, the figure, summary.md), the gate that
// compares a run with a baseline (shipped ones built in, from fixtures),
// its fixed thresholds, a director slowed down on purpose to prove the
// gate, and the failover benchmark of a keepalived pair. It places a
// benchmark on this host or in the VM (vm.Choose, with the VM's options
// resolved: where.go), and writes its progress lines and its terminal
// table (progress.go, table.go). The flags of lvslab bench, failover and
// gate and what they build are decided here too (flags.go, gate_flags.go),
// so that the command only parses, places and prints.
//
// It owns the model that explains the numbers: each station's CPU time
// per measurement (stations.go; in the VM the host samples the vCPU
// threads), demands from light-load runs (demand.go), the bounds they
// predict, each path's added cost, the paper's hardware predicted and the
// verdict (model.go), and the summary's account of them (summary.go).
//
// It builds labs through packages topology and harness and sends load
// through package loadgen; it must not change the root namespace, and
// leaves no lab behind, however a run ends. The one exception is its own
// VM's kernel, whose unbound work it keeps on the client's CPUs under the
// machine model (housekeep.go), and only inside that VM.
//
// Linux only, as the labs it builds: every file but this one is built for
// linux alone.
package bench
