package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"

	"github.com/licensor/licensor/token"
)

func init() {
	register(&command{
		name:    "token keygen",
		summary: "generate the key a license will bind on a hardware token (vendor)",
		help: `Usage: licensor token keygen --module FILE --key-label LABEL [--token-label L | --serial S]
                            [--alg ES256|EdDSA] [--key-id HEX] [--pin-file FILE] [--timeout DURATION]

The vendor's provisioning step: generates a key pair on the token, with
the private key made on the token, sensitive and not extractable, so that
it never leaves it; prints the token's serial and the key's thumbprint.
The token must be initialised (its vendor's tool does that; for SoftHSM2,
'softhsm2-util --init-token'). With several tokens plugged in, name one by
--token-label or --serial. A token that already holds a key with that
label is refused (606): licensor never replaces a key a license may bind.
--alg ES256 (ECDSA P-256, the default; every PKCS#11 token has it) or
EdDSA (Ed25519, where the module offers CKM_EDDSA). --key-id defaults to 8
random bytes.

The PIN (the token's user PIN) is read from --pin-file (chmod 600) or
else from LICENSOR_TOKEN_PIN. Ship the token to the site; the site's
'licensor activation-request --token-module M --token-label LABEL' puts
the key in the request, and 'licensor issue' binds it.`,
		setup: func(fs *flag.FlagSet) runFunc {
			module := fs.String("module", "", "the PKCS#11 module (.so) of the token vendor")
			keyLabel := fs.String("key-label", "", "the `LABEL` of the new key")
			tokenLabel := fs.String("token-label", "", "the token's `LABEL`, when several are plugged in")
			serial := fs.String("serial", "", "the token's `SERIAL`, when several are plugged in")
			alg := fs.String("alg", token.ES256, "the key's algorithm: ES256 or EdDSA")
			keyID := fs.String("key-id", "", "the key's CKA_ID in `HEX` (default: 8 random bytes)")
			pinFile := fs.String("pin-file", "", "a file holding the token's user PIN (else $"+token.PINEnv+")")
			timeout := fs.Duration("timeout", token.DefaultTimeout, "how long one call into the module may take")
			return func(ctx context.Context, e *Env, args []string) error {
				switch {
				case len(args) > 0:
					return usageErrorf("token keygen takes no arguments")
				case *module == "" || *keyLabel == "":
					return usageErrorf("token keygen needs --module FILE and --key-label LABEL")
				case *alg != token.ES256 && *alg != token.EdDSA:
					return usageErrorf("token keygen: --alg %q: want ES256 or EdDSA", *alg)
				case *timeout <= 0:
					return usageErrorf("token keygen: --timeout %s: want a positive duration such as 5s", *timeout)
				}
				id := make([]byte, 8)
				if *keyID != "" {
					var err error
					if id, err = hex.DecodeString(*keyID); err != nil || len(id) == 0 || len(id) > 64 {
						return usageErrorf("token keygen: --key-id %q: want 1 to 64 bytes in hex", *keyID)
					}
				} else {
					rand.Read(id)
				}
				pin, err := token.ReadPIN(*pinFile)
				if err != nil {
					return err
				}
				m, err := token.Open(ctx, *module, *timeout)
				if err != nil {
					return err
				}
				defer m.Close()
				t, k, err := m.GenerateKey(ctx, token.Selector{Serial: *serial, TokenLabel: *tokenLabel}, pin, *alg, *keyLabel, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "generated %s key %q (id %s) on token %q, serial %s\n  thumbprint %s\n", k.Algorithm, k.Label, k.ID, t.Label, t.Serial, k.Thumbprint)
				return nil
			}
		},
	})
}
