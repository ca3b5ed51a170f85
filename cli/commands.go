package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one subcommand. Its help text is its usage line, a blank line
// and a description; flags are listed from its FlagSet.
type command struct {
	name    string // "keys generate"
	summary string
	help    string
	// words are what an argument may be, for shell completion; nil for
	// file names or free text.
	words []string
	// setup registers the command's flags and returns the function that
	// runs it with their values and the positional arguments.
	setup func(fs *flag.FlagSet) runFunc
	// hidden commands are licensor's own plumbing (bench-probe-server):
	// they run and have help, but the overview and shell completion leave
	// them out.
	hidden bool
}

type runFunc func(ctx context.Context, e *Env, args []string) error

var commands []*command

func register(c *command) { commands = append(commands, c) }

// find returns the command whose name is the longest prefix of args.
func find(args []string) (*command, []string) {
	var best *command
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == c.name {
			if best == nil || len(words) > len(strings.Fields(best.name)) {
				best = c
			}
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, args[len(strings.Fields(best.name)):]
}

// group returns the commands under a first word such as "keys".
func group(word string) []*command {
	var out []*command
	for _, c := range commands {
		if strings.HasPrefix(c.name, word+" ") {
			out = append(out, c)
		}
	}
	return out
}

// sorted returns the commands a person runs, hidden ones left out, by name.
func sorted() []*command {
	var out []*command
	for _, c := range commands {
		if !c.hidden {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

const overview = `licensor — license authorization for privately deployed software.

Usage: licensor COMMAND [ARGS] [FLAGS]

Exit status:
  0  success
  1  the operation failed or was denied; the output names its code and
     the fix, e.g. "code=509 fingerprint: …"
  2  a mistake in the command line: an unknown command or flag, a missing
     or extra argument, or a value that does not parse (a --product SPEC,
     a machine code, a URL, an unknown code for explain; code 604)
  3  a site server in upstream mode whose grant ran out (code 526)
Flags may come before or after arguments; --json prints data for machines.

Commands:
`

func (e *Env) printOverview(w io.Writer) {
	fmt.Fprint(w, overview)
	for _, c := range sorted() {
		fmt.Fprintf(w, "  %-20s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'licensor help COMMAND' (or COMMAND --help) for a command's flags; 'licensor explain CODE'\n"+
		"for a code; 'licensor --version' for the version; 'licensor completion SHELL' for shell completion.\n")
}

func (e *Env) printGroup(w io.Writer, word string, cs []*command) {
	fmt.Fprintf(w, "Commands under %q:\n", word)
	for _, c := range cs {
		fmt.Fprintf(w, "  %-20s %s\n", c.name, c.summary)
	}
}

func (e *Env) help(args []string) error {
	if len(args) == 0 {
		e.printOverview(e.Stdout)
		return nil
	}
	c, rest := find(args)
	if c == nil || len(rest) > 0 {
		if g := group(args[0]); len(g) > 0 && len(args) == 1 {
			e.printGroup(e.Stdout, args[0], g)
			return nil
		}
		return usageErrorf("no command %q; 'licensor help' lists the commands", strings.Join(args, " "))
	}
	printHelp(e.Stdout, c)
	return nil
}

func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "%s\n", strings.TrimSpace(c.help))
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%-28s %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// invoke parses c's flags and runs it.
func (e *Env) invoke(ctx context.Context, c *command, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	run := c.setup(fs)
	pos, err := e.parse(c, fs, args)
	if err != nil {
		return err
	}
	return run(ctx, e, pos)
}

// parse parses a command's flags, allowing them before, between and after
// positional arguments, and returns the positional arguments. --help
// prints the command's help and returns flag.ErrHelp.
func (e *Env) parse(c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				printHelp(e.Stdout, c)
				return nil, flag.ErrHelp
			}
			return nil, usageErrorf("%s: %v; 'licensor help %s' lists the flags", c.name, err, c.name)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
