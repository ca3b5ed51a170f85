package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/keys"
)

func init() {
	register(&command{
		name:    "keys generate",
		summary: "create the vendor's Ed25519 signing key",
		help: `Usage: licensor keys generate --out DIR [--name NAME]

Writes a new Ed25519 key pair: DIR/NAME.key (PKCS #8 PEM, mode 0600; keep
it where licenses are signed) and DIR/NAME.pub (PKIX PEM; give it to the
site servers and build it into the product). Existing files are never
overwritten. Prints the key id, the RFC 7638 thumbprint that licenses name.`,
		setup: func(fs *flag.FlagSet) runFunc {
			out := fs.String("out", "", "directory to write the key pair in (created if absent)")
			name := fs.String("name", "vendor", "base name of the key files")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("keys generate takes no arguments; use --out DIR")
				}
				if *out == "" {
					return usageErrorf("keys generate needs --out DIR")
				}
				w, err := generateKeys(*out, *name)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(w)
				}
				fmt.Fprintf(e.Stdout, "key id:      %s\nprivate key: %s (keep it secret)\npublic key:  %s\n", w.KeyID, w.PrivateKey, w.PublicKey)
				return nil
			}
		},
	})
	register(&command{
		name:    "keys show",
		summary: "print a key file's id and kind",
		help: `Usage: licensor keys show FILE [--json]

Prints the key id (RFC 7638 thumbprint) of a private or public key file.
Licenses name the vendor key that signed them by this id.`,
		setup: func(fs *flag.FlagSet) runFunc {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) != 1 {
					return usageErrorf("keys show takes one FILE")
				}
				data, err := keys.ReadFile(args[0])
				if err != nil {
					return err
				}
				pub, priv, err := keys.Parse(data)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				kind := "public"
				if priv != nil {
					kind = "private"
				}
				if *asJSON {
					return e.writeJSON(map[string]any{"file": args[0], "kind": kind, "algorithm": "Ed25519", "key_id": keys.ID(pub), "jwk": keys.PublicJWK(pub)})
				}
				fmt.Fprintf(e.Stdout, "%s\n  kind:      %s key, Ed25519\n  file:      %s\n", keys.ID(pub), kind, args[0])
				return nil
			}
		},
	})
}

type keyFiles struct {
	KeyID      string `json:"key_id"`
	PrivateKey string `json:"private_key"`
	PublicKey  string `json:"public_key"`
}

func generateKeys(dir, name string) (keyFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return keyFiles{}, unwritable.File{Path: dir, Noun: "key directory", Dir: true}.Error(err)
	}
	pub, priv, err := keys.Generate()
	if err != nil {
		return keyFiles{}, err
	}
	w := keyFiles{KeyID: keys.ID(pub), PrivateKey: filepath.Join(dir, name+".key"), PublicKey: filepath.Join(dir, name+".pub")}
	return w, keys.WritePair(w.PrivateKey, w.PublicKey, priv)
}
