package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print licensor's version",
		help:    "Usage: licensor version\n\nPrints the version licensor was built from.",
		setup: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, e *Env, args []string) error {
				v := "(devel)"
				if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
					v = bi.Main.Version
				}
				fmt.Fprintf(e.Stdout, "licensor %s\n", v)
				return nil
			}
		},
	})
}
