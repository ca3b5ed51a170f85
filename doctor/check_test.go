package doctor

import (
	"context"
	"fmt"
	"testing"
)

// TestRunChecks: a check runs only when what it needs did not fail, and a
// skip names the check at the root of it.
func TestRunChecks(t *testing.T) {
	ran := map[string]bool{}
	check := func(name string, r Result, needs ...string) Check {
		return Check{Name: name, Needs: needs, Run: func(context.Context) Result { ran[name] = true; return r }}
	}
	blocked := warn("warned", 35, "the connection broke", "")
	blocked.blocks = true
	got := runChecks(context.Background(), []Check{
		check("a", pass("", "ok")),
		check("b", Result{Status: Fail, Found: "broken"}, "a"),
		check("c", pass("", "ok"), "b"),
		check("d", pass("", "ok"), "c"),
		check("e", pass("", "ok"), "a"),
		check("warned", blocked, "e"),
		check("f", pass("", "ok"), "warned"),
	}, func(r Result) Result { r.Found = "at: " + r.Found; return r })
	want := []string{
		"a pass at: ok",
		"b fail at: broken",
		"c skip at: skipped: b failed",
		"d skip at: skipped: b failed",
		"e pass at: ok",
		"warned warn at: the connection broke",
		"f skip at: skipped: warned failed",
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(got), len(want), got)
	}
	for i, r := range got {
		if s := fmt.Sprintf("%s %s %s", r.Name, r.Status, r.Found); s != want[i] {
			t.Errorf("result %d = %q, want %q", i, s, want[i])
		}
	}
	if ran["c"] || ran["d"] || ran["f"] {
		t.Errorf("skipped checks ran: %v", ran)
	}
}
