package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
)

// serverKeyFile is the site server's signing key in its data directory.
const serverKeyFile = "server.key"

func init() {
	register(&command{
		name:    "activation-request",
		summary: "print this site server's request for a license",
		help: `Usage: licensor activation-request --data DIR [--out FILE]
                                 [--token-module M --token-label L [--token-serial S]]

Creates the site server's own Ed25519 signing key in DIR (server.key, mode
0600, and server.pub) if it is not there yet, and prints a JSON activation
request: this host's machine code and component hashes, the server's
public key and the host name. Send it to the vendor, who runs
'licensor issue --request FILE'. The request holds no secret.

With --token-module, the request also names a hardware token's key, for a
license bound to the token: M is the token's PKCS#11 library, L the label
of the key on it (ECDSA P-256 or Ed25519; 'licensor token list --module M'
lists them) and S the token's serial when several tokens hold such a key
(without it, several keys with the label are refused, not one picked).
The request carries the key's thumbprint and the token's serial, read
without a PIN; no private key leaves the token.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the site server's data directory (created if absent)")
			out := fs.String("out", "", "also write the request to FILE")
			module := fs.String("token-module", "", "the hardware token's PKCS#11 `MODULE` (.so), to bind its key")
			label := fs.String("token-label", "", "the `LABEL` of the token key to bind (with --token-module)")
			serial := fs.String("token-serial", "", "the token's `SERIAL`, when several tokens are plugged in")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("activation-request takes no arguments")
				}
				if *data == "" {
					return usageErrorf("activation-request needs --data DIR")
				}
				if *module == "" && (*label != "" || *serial != "") {
					return usageErrorf("--token-label and --token-serial go with --token-module")
				}
				if *module != "" && *label == "" {
					return usageErrorf("--token-module needs --token-label L: the label of the key to bind ('licensor token list --module %s' lists them)", *module)
				}
				req, _, err := e.activationRequest(*data)
				if err != nil {
					return err
				}
				if *module != "" {
					if req.Token, err = requestToken(ctx, *module, token.Selector{KeyLabel: *label, Serial: *serial}); err != nil {
						return err
					}
					fmt.Fprintf(e.Stderr, "bound the token key %q (%s %s) of token %s, serial %s\n", req.Token.Label, req.Token.Alg, req.Token.Thumbprint, req.Token.TokenLabel, req.Token.Serial)
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

// requestToken reads the key sel picks from the token module at path, for
// an activation request.
func requestToken(ctx context.Context, path string, sel token.Selector) (*license.RequestToken, error) {
	m, err := token.Open(ctx, path, token.DefaultTimeout)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	t, k, err := m.Find(ctx, sel)
	if err != nil {
		return nil, err
	}
	// Find takes the first of several keys that match: a request binds
	// the one the operator means, or none.
	ts, err := m.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	var held []string
	for _, t := range ts {
		for _, k := range t.Keys {
			if t.Present && t.Initialized && (sel.Serial == "" || t.Serial == sel.Serial) && k.Label == sel.KeyLabel {
				held = append(held, fmt.Sprintf("token serial %s key %s", t.Serial, k.Thumbprint))
			}
		}
	}
	if len(held) > 1 {
		return nil, codes.Errorf(codes.InvalidArgument, "%d keys are labelled %q: %s", len(held), sel.KeyLabel, strings.Join(held, "; ")).
			WithFix("Name the token to bind with --token-serial S ('licensor token list --module " + path + "' lists them), or unplug the others.")
	}
	return &license.RequestToken{Thumbprint: k.Thumbprint, Alg: k.Algorithm, Label: k.Label, Serial: t.Serial,
		TokenLabel: t.Label, Manufacturer: t.Manufacturer, Model: t.Model}, nil
}
