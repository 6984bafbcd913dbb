//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/lvslab/lvslab/suites/junit"
	"github.com/lvslab/lvslab/suites/kernelreport"
)

func init() {
	register(&command{
		name: "summary",
		summary: fmt.Sprintf("Add up JUnit reports (as make test writes them) into one closing line: N passed, N failed, N inconclusive, N skipped.\n"+
			"Exit status %d when a spec failed, %d when one was inconclusive (<failure type=\"inconclusive\">) and none failed,\n"+
			"%d when no spec ran (a label filter that matched nothing).\n"+
			"With --kernels, read the IPVS suite's JSON reports of several kernels and write the table of IPVS\n"+
			"behaviour by kernel (make test-matrix writes it to results/kernels.md).", exitFailure, exitInconclusive, exitNothingRan),
		usage: "summary REPORT.xml… | summary --kernels REPORT.json…",
		run:   runSummary,
	})
}

func runSummary(_ context.Context, fs *flag.FlagSet, args []string) error {
	kernels := fs.Bool("kernels", false, "read Ginkgo JSON reports (results/ipvs-KERNEL.json) and write the behaviour-by-kernel table")
	if err := parse(find("summary"), fs, args, true); err != nil {
		return err
	}
	if *kernels {
		t, err := kernelreport.Read(fs.Args()...)
		if err != nil {
			return usageError{err}
		}
		fmt.Print(t.Document())
		return nil
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name at least one JUnit report")}
	}
	t, err := junit.Add(fs.Args()...)
	if err != nil {
		return err
	}
	fmt.Printf("specs: %d passed, %d failed, %d inconclusive, %d skipped\n", t.Passed, t.Failed, t.Inconclusive, t.Skipped)
	switch {
	case t.Failed > 0:
		return exitError{code: exitFailure}
	case t.Inconclusive > 0:
		return exitError{code: exitInconclusive, msg: "no spec failed, but some were inconclusive: the run is no pass"}
	case t.Ran() == 0:
		return exitError{code: exitNothingRan, msg: "no spec ran: the label filter matched none (check LABELS against the labels in the README)"}
	}
	return nil
}
