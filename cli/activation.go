package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// serverKeyFile is the site server's signing key in its data directory.
const serverKeyFile = "server.key"

func init() {
	register(&command{
		name:    "activation-request",
		summary: "print this site server's request for a license",
		help: `Usage: licensor activation-request --data DIR [--out FILE]

Creates the site server's own Ed25519 signing key in DIR (server.key, mode
0600, and server.pub) if it is not there yet, and prints a JSON activation
request: this host's machine code and component hashes, the server's
public key and the host name. Send it to the vendor, who runs
'licensor issue --request FILE'. The request holds no secret.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the site server's data directory (created if absent)")
			out := fs.String("out", "", "also write the request to FILE")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("activation-request takes no arguments")
				}
				if *data == "" {
					return usageErrorf("activation-request needs --data DIR")
				}
				req, _, err := e.activationRequest(*data)
				if err != nil {
					return err
				}
				b, _ := json.MarshalIndent(req, "", "  ")
				b = append(b, '\n')
				if *out != "" {
					if err := atomicfile.WriteFile(*out, b, 0o644); err != nil {
						return unwritable.File{Path: *out, Noun: "activation request", By: "'licensor activation-request'"}.Error(err)
					}
				}
				_, err = e.Stdout.Write(b)
				return err
			}
		},
	})
}

// activationRequest loads or creates the server key in dataDir and builds
// the request for this host.
func (e *Env) activationRequest(dataDir string) (*license.Request, ed25519.PrivateKey, error) {
	priv, created, err := keys.LoadOrCreate(filepath.Join(dataDir, serverKeyFile))
	if err != nil {
		return nil, nil, err
	}
	if created {
		fmt.Fprintf(e.Stderr, "created the site server key %s\n", filepath.Join(dataDir, serverKeyFile))
	}
	fp, err := e.Fingerprint()
	if err != nil {
		return nil, nil, codes.Errorf(codes.Unknown, "cannot compute the machine code: %w", err)
	}
	host, err := e.Hostname()
	if err != nil {
		host = "unknown"
	}
	return license.NewRequest(fp, priv.Public().(ed25519.PublicKey), host, e.Clock.Now()), priv, nil
}
