package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/store"
)

func init() {
	register(&command{
		name:    "audit verify",
		summary: "check the audit log's hash chain",
		help: `Usage: licensor audit verify (--data DIR | --config FILE) [--json]

Reads every event of the site server's audit log (grants, denials with
their codes, releases, expiries, revocations, reloads) and checks the hash
chain that links them: an event edited, inserted or deleted after it was
written breaks the chain, and the command names the first event that does
not verify (code 702). It may run while the server runs.

--data reads the SQLite store in a data directory; --config reads the
store the server's configuration names (its store key), PostgreSQL
included. Several servers sharing one store each keep a chain of their
own: every node's chain is checked, and a break names its node.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the site server's data directory")
			config := fs.String("config", "", "the site server's configuration file")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("audit verify takes no arguments")
				}
				var setting storeopen.Setting
				switch {
				case (*data == "") == (*config == ""):
					return usageErrorf("audit verify needs --data DIR or --config FILE")
				case *config != "":
					cfg, err := loadServerConfig(*config)
					if err != nil {
						return err
					}
					setting = storeSetting(cfg)
					setting.ReadOnly = true
				default:
					setting = storeopen.Setting{DataDir: *data}
				}
				where := storeopen.SQLitePath(setting)
				if storeopen.IsPostgres(setting.Store) {
					where = storeopen.Redact(setting.Store)
				}
				st, err := storeopen.OpenExisting(ctx, setting)
				if err != nil {
					return err
				}
				defer st.Close()
				var v store.Chains
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
				heads := v.Heads()
				head := ""
				if len(heads) == 1 {
					head = heads[0].Head
				}
				if *asJSON {
					out := map[string]any{"valid": err == nil, "events": v.Count, "head": head, "chains": heads, "by_kind": kinds, "error": errorObject(err)}
					return e.writeOutcome(out, err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "audit log %s: %s, chain intact\n", where, events(v.Count))
				for _, h := range heads {
					if h.Node != "" {
						fmt.Fprintf(e.Stdout, "  node %s: %s, head %s\n", h.Node, events(h.Events), h.Head)
					} else {
						fmt.Fprintf(e.Stdout, "  head %s\n", h.Head)
					}
				}
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

// events is "1 event" or "N events".
func events(n int64) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}
