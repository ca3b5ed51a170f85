package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/licensor/licensor/codes"
)

func init() {
	register(&command{
		name:    "explain",
		summary: "explain an error code: meaning and fix",
		help: `Usage: licensor explain CODE|NAME [--json]
       licensor explain --all [--json]

Prints what a code means and how to fix it, from the one table the SDK,
the server and the logs use. CODE is a number (509) or a name
(fingerprint); "code=509" as it appears in log lines works too.`,
		words: codeNames(),
		setup: func(fs *flag.FlagSet) runFunc {
			all := fs.Bool("all", false, "explain every code")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				var rows []codes.Info
				switch {
				case *all && len(args) == 0:
					rows = codes.All()
				case !*all && len(args) > 0:
					for _, a := range args {
						a = strings.TrimPrefix(strings.TrimSpace(a), "code=")
						in, ok := codes.Lookup(a)
						if !ok {
							return codes.Errorf(codes.InvalidArgument, "no code %q in the table", a).
								WithFix("Run 'licensor explain --all' to list every code.")
						}
						rows = append(rows, in)
					}
				default:
					return usageErrorf("explain takes one or more CODEs, or --all")
				}
				if *asJSON {
					if !*all && len(rows) == 1 {
						return e.writeJSON(rows[0])
					}
					return e.writeJSON(rows)
				}
				for i, in := range rows {
					if i > 0 {
						fmt.Fprintln(e.Stdout)
					}
					printInfo(e, in)
				}
				return nil
			}
		},
	})
}

// codeNames are the names of the codes, which explain takes as CODE.
func codeNames() []string {
	var names []string
	for _, in := range codes.All() {
		names = append(names, in.Name)
	}
	return names
}

func printInfo(e *Env, in codes.Info) {
	fmt.Fprintf(e.Stdout, "code=%d %s\n", int(in.Code), in.Name)
	meaning := in.Meaning
	if in.NeverEmitted {
		meaning += " (never emitted)"
	}
	fmt.Fprintf(e.Stdout, "  meaning: %s\n", meaning)
	fmt.Fprintf(e.Stdout, "  fix:     %s\n", in.Fix)
	if in.HTTPStatus != 0 {
		fmt.Fprintf(e.Stdout, "  http:    %d\n", in.HTTPStatus)
	} else {
		fmt.Fprintf(e.Stdout, "  http:    — (reported by the client, never sent by a server)\n")
	}
}
