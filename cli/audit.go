package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/sqlite"
)

func init() {
	register(&command{
		name:    "audit verify",
		summary: "check the audit log's hash chain",
		help: `Usage: licensor audit verify --data DIR [--json]

Reads every event of the site server's audit log (grants, denials with
their codes, releases, expiries, revocations, reloads) and checks the hash
chain that links them: an event edited, inserted or deleted after it was
written breaks the chain, and the command names the first event that does
not verify (code 702). It may run while the server runs.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the site server's data directory")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("audit verify takes no arguments")
				}
				if *data == "" {
					return usageErrorf("audit verify needs --data DIR")
				}
				path := filepath.Join(*data, server.StoreFile)
				if _, err := os.Stat(path); err != nil {
					return codes.Errorf(codes.FileMissing, "no store at %s", path).WithFix("Give the data directory the server runs with (its data_dir).")
				}
				st, err := sqlite.Open(path)
				if err != nil {
					return codes.Errorf(codes.StoreUnavailable, "%v", err)
				}
				defer st.Close()
				var v store.Verifier
				kinds := map[string]int{}
				err = st.Audit(ctx, 0, func(ev store.Event) error {
					kinds[ev.Kind]++
					return v.Check(ev)
				})
				var ce *store.ChainError
				if errors.As(err, &ce) {
					err = codes.Errorf(codes.AuditTampered, "%v; the %d events before it verify", ce, v.Count)
				} else if err != nil {
					err = codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
				}
				if *asJSON {
					out := map[string]any{"valid": err == nil, "events": v.Count, "head": v.Head(), "by_kind": kinds, "error": errorObject(err)}
					return e.writeOutcome(out, err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "audit log %s: %d events, chain intact\n  head %s\n", path, v.Count, v.Head())
				for _, k := range []string{store.KindStart, store.KindGrant, store.KindResume, store.KindDeny, store.KindRelease, store.KindExpire, store.KindRevoke, store.KindReload} {
					if kinds[k] > 0 {
						fmt.Fprintf(e.Stdout, "  %-8s %d\n", k, kinds[k])
					}
				}
				return nil
			}
		},
	})
}
