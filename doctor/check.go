package doctor

import "context"

// Check is one step of the doctor: a kebab-case name, the checks it needs
// to have run without failing, and what it does. The runner, not the
// check, decides what to skip: a check whose need failed or was skipped is
// skipped, naming the check at the root of it.
type Check struct {
	Name  string
	Needs []string
	Run   func(ctx context.Context) Result
}

// runChecks runs checks in order and returns their results, each passed
// through tag (which names the server a result is about).
func runChecks(ctx context.Context, checks []Check, tag func(Result) Result) []Result {
	failed := map[string]string{} // check name → the failed check at the root of it
	var out []Result
	for _, c := range checks {
		root := ""
		for _, n := range c.Needs {
			if r, ok := failed[n]; ok {
				root = r
				break
			}
		}
		var r Result
		if root != "" {
			r = skip(c.Name, "skipped: "+root+" failed")
			failed[c.Name] = root
		} else {
			r = c.Run(ctx)
			r.Name = c.Name
			if r.Status == Fail || r.Status == Skip || r.blocks {
				failed[c.Name] = c.Name
			}
		}
		out = append(out, tag(r))
	}
	return out
}
