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
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

func runSummary(_ context.Context, fs *flag.FlagSet, args []string) error {
	if err := parse(find("summary"), fs, args, true); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name at least one JUnit report")}
	}
	var passed, failed, skipped int
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
				switch {
				case c.Failure != nil || c.Error != nil:
					failed++
				case c.Skipped != nil:
					skipped++
				default:
					passed++
				}
			}
		}
	}
	fmt.Printf("specs: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
