package main

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

func init() {
	register(&command{
		name:    "summary",
		summary: "Add up JUnit reports (as make test writes them) into one closing line: N passed, N failed, N skipped.",
		usage:   "summary REPORT.xml…",
		run:     runSummary,
	})
}

type junitCase struct {
	Name    string    `xml:"name,attr"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
	Skipped *struct{} `xml:"skipped"`
}

type junitReport struct {
	Suites []struct {
		Name  string      `xml:"name,attr"`
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// Outcomes of a spec, worst last: a spec that ran in one report and was
// filtered out of another (make test runs the perf specs in their own VM)
// counts once, as it ran.
const (
	outcomeSkipped = iota
	outcomePassed
	outcomeFailed
)

func runSummary(_ context.Context, fs *flag.FlagSet, args []string) error {
	if err := parse(find("summary"), fs, args, true); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name at least one JUnit report")}
	}
	outcomes := map[string]int{}
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read report: %w", err)
		}
		var r junitReport
		if err := xml.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("report %s is not JUnit XML: %w", path, err)
		}
		for _, s := range r.Suites {
			for _, c := range s.Cases {
				// Ginkgo reports suite-level nodes ([BeforeSuite]) as cases too.
				if strings.HasPrefix(c.Name, "[") && strings.Contains(strings.SplitN(c.Name, "]", 2)[0], "Suite") && c.Failure == nil && c.Error == nil {
					continue
				}
				o := outcomePassed
				switch {
				case c.Failure != nil || c.Error != nil:
					o = outcomeFailed
				case c.Skipped != nil:
					o = outcomeSkipped
				}
				key := s.Name + "\x00" + c.Name
				if prev, seen := outcomes[key]; !seen || o > prev {
					outcomes[key] = o
				}
			}
		}
	}
	var passed, failed, skipped int
	for _, o := range outcomes {
		switch o {
		case outcomeFailed:
			failed++
		case outcomeSkipped:
			skipped++
		default:
			passed++
		}
	}
	fmt.Printf("specs: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
