package cli

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCompletionNamesEveryCommand checks that each shell's script names
// every command of the table and every flag of each.
func TestCompletionNamesEveryCommand(t *testing.T) {
	h := newHarness(t)
	for _, sh := range []struct {
		name      string
		node      func(path string) string
		flag      func(name string) string
		firstLine string
	}{
		{"bash", func(p string) string { return "\t'" + p + "') subs=" }, func(f string) string { return "--" + f }, "# bash completion for licensor"},
		{"zsh", func(p string) string { return "\t('" + p + "')\n" }, func(f string) string { return "'--" + f + ":" }, "#compdef licensor"},
		{"fish", func(p string) string { return "__licensor_at '" + p + "'\"" }, func(f string) string { return " -l " + f + " " }, "# fish completion for licensor"},
	} {
		t.Run(sh.name, func(t *testing.T) {
			script := h.mustRun("completion", sh.name)
			if !strings.HasPrefix(script, sh.firstLine) {
				t.Errorf("script starts %q", strings.SplitN(script, "\n", 2)[0])
			}
			for _, c := range commands {
				if c.hidden {
					continue // TestBenchProbeServer
				}
				if !strings.Contains(script, sh.node(c.name)) {
					t.Errorf("no node for %q", c.name)
				}
				fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
				c.setup(fs)
				fs.VisitAll(func(f *flag.Flag) {
					if !strings.Contains(script, sh.flag(f.Name)) {
						t.Errorf("%q: flag --%s missing", c.name, f.Name)
					}
				})
			}
			for _, w := range []string{"help", "generate", "fingerprint", "bash", "zsh", "fish"} {
				if !strings.Contains(script, w) {
					t.Errorf("script lacks %q", w)
				}
			}
		})
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		if status := h.run(args...); status != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, status, ExitUsage)
		}
	}
}

// completionCases are command lines, the last word being completed, and
// what completing them must offer (and must not).
var completionCases = []struct {
	line      []string
	want, not []string
}{
	{[]string{""}, []string{"keys", "license", "quickstart", "version", "help"}, nil},
	{[]string{"ke"}, []string{"keys", "keyfile"}, []string{"license"}},
	{[]string{"keys", ""}, []string{"generate", "show"}, []string{"license"}},
	{[]string{"keys", "generate", "--"}, []string{"--out", "--name", "--json", "--help"}, []string{"--hosts"}},
	{[]string{"pki", "init", "--ho"}, []string{"--hosts"}, nil},
	{[]string{"doctor", ""}, []string{"cert", "token"}, nil},
	{[]string{"help", "vendor", ""}, []string{"approve", "serve"}, nil},
	{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}, nil},
	{[]string{"explain", "finger"}, []string{"fingerprint"}, nil},
}

// TestCompletionBash sources the bash script in bash and completes.
func TestCompletionBash(t *testing.T) {
	bash := tool(t, "bash")
	script := writeCompletion(t, "bash")
	out, err := exec.Command(bash, "--norc", "--noprofile", "-c", "source "+script+" && complete -p licensor").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-F _licensor licensor") {
		t.Fatalf("complete -p licensor: %v\n%s", err, out)
	}
	for _, tt := range completionCases {
		words := append([]string{"licensor"}, tt.line...)
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shQuote(w))
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "; _licensor; printf '%s\\n' \"${COMPREPLY[@]}\""
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tt.line, err, out)
		}
		checkOffered(t, tt.line, strings.Fields(string(out)), tt.want, tt.not)
	}
}

// TestCompletionZsh checks the zsh script's syntax and, with zsh's
// completion functions stood in for, what it offers.
func TestCompletionZsh(t *testing.T) {
	zsh := tool(t, "zsh")
	script := writeCompletion(t, "zsh")
	if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	// compdef registers the function when the script is sourced.
	out, err := exec.Command(zsh, "-f", "-c", "autoload -U compinit; compinit -u -d "+filepath.Join(t.TempDir(), "zcompdump")+
		"; source "+script+"; print -r -- $_comps[licensor]").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_licensor" {
		t.Fatalf("compdef: %v\n%s", err, out)
	}
	const stubs = `compdef() { :; }
_describe() { local x; for x in ${(P)4}; do print -r -- ${x%%:*}; done; }
compadd() { print -rl -- ${(P)2}; }
_files() { :; }
`
	for _, tt := range completionCases {
		words := append([]string{"licensor"}, tt.line...)
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shQuote(w))
		}
		prog := stubs + "source " + script + "; words=(" + strings.Join(quoted, " ") + "); CURRENT=" + strconv.Itoa(len(words)) + "; _licensor"
		out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tt.line, err, out)
		}
		// The stubs offer every candidate; keep those the shell would
		// match against the word being completed.
		var offered []string
		for _, w := range strings.Fields(string(out)) {
			if strings.HasPrefix(w, tt.line[len(tt.line)-1]) {
				offered = append(offered, w)
			}
		}
		checkOffered(t, tt.line, offered, tt.want, tt.not)
	}
}

// TestCompletionFish checks the fish script's syntax and completes with
// fish's own 'complete -C'.
func TestCompletionFish(t *testing.T) {
	fish := tool(t, "fish")
	script := writeCompletion(t, "fish")
	if out, err := exec.Command(fish, "--no-execute", script).CombinedOutput(); err != nil {
		t.Fatalf("fish --no-execute: %v\n%s", err, out)
	}
	for _, tt := range completionCases {
		line := "licensor " + strings.Join(tt.line, " ")
		cmd := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C"+fishQuote(line))
		cmd.Dir = t.TempDir() // no files to offer
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		var offered []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			offered = append(offered, strings.SplitN(l, "\t", 2)[0])
		}
		checkOffered(t, tt.line, offered, tt.want, tt.not)
	}
}

func writeCompletion(t *testing.T, shell string) string {
	t.Helper()
	h := newHarness(t)
	path := filepath.Join(h.dir, "licensor."+shell)
	if err := os.WriteFile(path, []byte(h.mustRun("completion", shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func checkOffered(t *testing.T, line, offered, want, not []string) {
	t.Helper()
	set := map[string]bool{}
	for _, o := range offered {
		set[o] = true
	}
	for _, w := range want {
		if !set[w] {
			t.Errorf("licensor %s<TAB> does not offer %q; offers %q", strings.Join(line, " "), w, offered)
		}
	}
	for _, n := range not {
		if set[n] {
			t.Errorf("licensor %s<TAB> offers %q", strings.Join(line, " "), n)
		}
	}
}
