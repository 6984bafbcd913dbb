//go:build linux

package check

// shown is the report as the operator reads it: with --remap, every
// address of every finding is theirs again (the mapping is listed
// beside). IDs too, so that runs compare whatever the mapping.
func (r *Report) shown() *Report {
	m := r.Remap
	if len(m.Pairs()) == 0 {
		return r
	}
	back := m.OriginalText
	out := *r
	out.Assumptions = make([]Assumption, len(r.Assumptions))
	for i, a := range r.Assumptions {
		a.Fact = back(a.Fact)
		out.Assumptions[i] = a
	}
	out.Changes = make([]Change, len(r.Changes))
	for i, c := range r.Changes {
		c.Was, c.Now = back(c.Was), back(c.Now)
		out.Changes[i] = c
	}
	out.Results = make([]Result, len(r.Results))
	for i, res := range r.Results {
		res.ID, res.Title, res.Bound, res.Measured, res.Reason = back(res.ID), back(res.Title), back(res.Bound), back(res.Measured), back(res.Reason)
		out.Results[i] = res
	}
	return &out
}
