// Package junit adds up the JUnit reports Ginkgo writes (-ginkgo.junit-report)
// into one verdict, so that a run made of several suites and VMs ends with
// one line: how many specs passed, failed and were skipped. It only reads
// reports.
package junit

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Totals are the specs of one or more reports, each counted once.
type Totals struct {
	Passed, Failed, Skipped int
}

// Ran is the number of specs that ran.
func (t Totals) Ran() int { return t.Passed + t.Failed }

type testCase struct {
	Name    string    `xml:"name,attr"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
	Skipped *struct{} `xml:"skipped"`
}

type report struct {
	Suites []struct {
		Name  string     `xml:"name,attr"`
		Cases []testCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// Outcomes of a spec, worst last: a spec that ran in one report and was
// filtered out of another (make test runs the perf specs in a VM of their
// own) counts once, as it ran.
const (
	skipped = iota
	passed
	failed
)

// Add reads reports and counts every spec once, by suite and name.
func Add(paths ...string) (Totals, error) {
	if len(paths) == 0 {
		return Totals{}, errors.New("no JUnit report given")
	}
	outcomes := map[string]int{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return Totals{}, fmt.Errorf("read report: %w", err)
		}
		var r report
		if err := xml.Unmarshal(data, &r); err != nil {
			return Totals{}, fmt.Errorf("report %s is not JUnit XML: %w", path, err)
		}
		for _, s := range r.Suites {
			for _, c := range s.Cases {
				// Ginkgo reports suite-level nodes ([BeforeSuite]) as cases too.
				if suiteNode(c.Name) && c.Failure == nil && c.Error == nil {
					continue
				}
				o := passed
				switch {
				case c.Failure != nil || c.Error != nil:
					o = failed
				case c.Skipped != nil:
					o = skipped
				}
				key := s.Name + "\x00" + c.Name
				if prev, seen := outcomes[key]; !seen || o > prev {
					outcomes[key] = o
				}
			}
		}
	}
	var t Totals
	for _, o := range outcomes {
		switch o {
		case failed:
			t.Failed++
		case skipped:
			t.Skipped++
		default:
			t.Passed++
		}
	}
	return t, nil
}

func suiteNode(name string) bool {
	return strings.HasPrefix(name, "[") && strings.Contains(strings.SplitN(name, "]", 2)[0], "Suite")
}
