// Package junit adds up the JUnit reports Ginkgo writes (-ginkgo.junit-report)
// into one verdict, so that a run made of several suites and VMs ends with
// one line: how many specs passed, failed, were inconclusive and were
// skipped. It only reads reports.
package junit

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"github.com/lvslab/lvslab/internal/boundedread"
)

// MaxReportBytes bounds a report: Ginkgo's for the whole IPVS suite, its
// specs' output included, is a few MB.
const MaxReportBytes = 64 << 20

// Totals are the specs of one or more reports, each counted once.
type Totals struct {
	Passed, Failed, Inconclusive, Skipped int
}

// Ran is the number of specs that ran.
func (t Totals) Ran() int { return t.Passed + t.Failed + t.Inconclusive }

// InconclusiveType is the failure type of a check that could not reach a
// verdict (<failure type="inconclusive">): never a pass.
const InconclusiveType = "inconclusive"

type testCase struct {
	Name    string `xml:"name,attr"`
	Failure *struct {
		Type string `xml:"type,attr"`
	} `xml:"failure"`
	Error   *struct{} `xml:"error"`
	Skipped *struct{} `xml:"skipped"`
}

// suite is a <testsuite>: its cases and, as some tools write them, suites
// nested in it.
type suite struct {
	XMLName  xml.Name
	Name     string     `xml:"name,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Cases    []testCase `xml:"testcase"`
	Suites   []suite    `xml:"testsuite"`
}

// Outcomes of a spec, worst last: a spec that ran in one report and was
// filtered out of another (make test runs the perf specs in a VM of their
// own) counts once, as it ran.
const (
	skipped = iota
	passed
	inconclusive
	failed
)

// Add reads reports and counts every spec once, by suite and name.
func Add(paths ...string) (Totals, error) {
	if len(paths) == 0 {
		return Totals{}, errors.New("no JUnit report given")
	}
	outcomes := map[string]int{}
	for _, path := range paths {
		root, err := read(path)
		if err != nil {
			return Totals{}, err
		}
		switch root.XMLName.Local {
		case "testsuites":
			// The root's own attributes add up its suites': only its
			// children are counted.
			root.Failures, root.Errors = 0, 0
			root.Name = ""
			count(root, "", outcomes)
		case "testsuite":
			count(root, "", outcomes)
		default:
			return Totals{}, fmt.Errorf("report %s is not JUnit XML: its root is <%s>, not <testsuites> or <testsuite>", path, root.XMLName.Local)
		}
	}
	var t Totals
	for _, o := range outcomes {
		switch o {
		case failed:
			t.Failed++
		case inconclusive:
			t.Inconclusive++
		case skipped:
			t.Skipped++
		default:
			t.Passed++
		}
	}
	return t, nil
}

// read parses one report: a regular file of at most MaxReportBytes.
func read(path string) (suite, error) {
	var root suite
	data, err := boundedread.File(path, MaxReportBytes)
	if err != nil {
		return root, fmt.Errorf("read report: %w", err)
	}
	if err := xml.Unmarshal(data, &root); err != nil {
		return root, fmt.Errorf("report %s is not JUnit XML: %w", path, err)
	}
	return root, nil
}

// count records the outcome of every case of s and of the suites in it,
// each keyed by the names of the suites it is in. A suite that says it
// failed but holds no failed case counts as one failed spec of its own.
func count(s suite, parent string, outcomes map[string]int) {
	key := parent
	if s.Name != "" {
		key += s.Name + "\x00"
	}
	failedCases := 0
	for _, c := range s.Cases {
		// Ginkgo reports suite-level nodes ([BeforeSuite]) as cases too.
		if suiteNode(c.Name) && c.Failure == nil && c.Error == nil {
			continue
		}
		o := passed
		switch {
		case c.Error != nil || (c.Failure != nil && c.Failure.Type != InconclusiveType):
			o = failed
			failedCases++
		case c.Failure != nil:
			o = inconclusive
			failedCases++
		case c.Skipped != nil:
			o = skipped
		}
		record(outcomes, key+c.Name, o)
	}
	for _, inner := range s.Suites {
		count(inner, key, outcomes)
	}
	if s.Failures+s.Errors > 0 && failedCases == 0 && !anyFailed(s.Suites) {
		record(outcomes, key+"[suite]", failed)
	}
}

func anyFailed(suites []suite) bool {
	for _, s := range suites {
		if s.Failures+s.Errors > 0 || anyFailed(s.Suites) {
			return true
		}
		for _, c := range s.Cases {
			if c.Failure != nil || c.Error != nil {
				return true
			}
		}
	}
	return false
}

func record(outcomes map[string]int, key string, o int) {
	if prev, seen := outcomes[key]; !seen || o > prev {
		outcomes[key] = o
	}
}

func suiteNode(name string) bool {
	return strings.HasPrefix(name, "[") && strings.Contains(strings.SplitN(name, "]", 2)[0], "Suite")
}
