package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
)

func init() {
	register(&command{
		name:    "token list",
		summary: "list a PKCS#11 module's slots, tokens and the keys a license can bind",
		help: `Usage: licensor token list --module FILE [--timeout DURATION] [--json]

Loads the token vendor's PKCS#11 module (a shared library, such as
/usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)
and prints what it sees, as 'cmu -x' does for CodeMeter: the module, then
every slot, empty or not; for each token its label, serial, manufacturer,
model and flags (login required, PIN locked, final PIN try); and each key
licensor can use (ECDSA P-256 or Ed25519 public keys readable without a
login) with its algorithm, label, id and thumbprint. The thumbprint is the
value a license binds: 'licensor activation-request --token-module' reads
it. No PIN is asked for.

A module that cannot be loaded is code 901, one that does not answer
within --timeout code 906, and a binary built without cgo code 907. Exit
status 0 when the module answered (even with no token), 1 when it failed,
2 for a usage error. --json prints {"module": {...}, "slots": [...]}.`,
		setup: func(fs *flag.FlagSet) runFunc {
			module := fs.String("module", "", "the PKCS#11 module (.so) of the token vendor")
			timeout := fs.Duration("timeout", token.DefaultTimeout, "how long one call into the module may take")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("token list takes no arguments; give the module with --module FILE")
				}
				if *module == "" {
					return usageErrorf("token list needs --module FILE: the token vendor's PKCS#11 library")
				}
				if *timeout <= 0 {
					return usageErrorf("token list: --timeout %s: want a positive duration such as 5s", *timeout)
				}
				m, err := token.Open(ctx, *module, *timeout)
				if err != nil {
					return err
				}
				defer m.Close()
				ts, err := m.Tokens(ctx)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(tokenListJSON{Module: m.Info(), Slots: jsonSlots(ts)})
				}
				printTokens(e.Stdout, m.Info(), ts)
				return nil
			}
		},
	})
	register(&command{
		name:    "token check",
		summary: "is the token plugged in the one a license binds, and does it sign",
		help: `Usage: licensor token check --module FILE --license FILE --vendor-pub FILE [--pin-file FILE]
                           [--timeout DURATION] [--json]

Verifies the license with the vendor's public key, reads the hardware
token it binds (the key's thumbprint, and the serial when the license
names one), lists the tokens the module sees and says of each whether it
holds that key, then runs the presence proof the site server runs: the
token logs in with the PIN, signs a fresh random challenge with the key,
and the signature is verified against the license's thumbprint.

The PIN is read from --pin-file (one line, a file only its owner may read:
chmod 600) or else from the environment variable LICENSOR_TOKEN_PIN; it is
never a flag's text. Failures name their code and fix: 902 no token, 531
another token than the license's, 905 no such key, 903 wrong or missing
PIN, 904 PIN locked, 909 a signature that does not verify (the module lies
about its key), 906 a module that does not answer, 908 a device error. Exit
status 0 when the token signed, 1 when it did not, 2 for a usage error.`,
		setup: func(fs *flag.FlagSet) runFunc {
			module := fs.String("module", "", "the PKCS#11 module (.so) of the token vendor")
			lic := fs.String("license", "", "the license file")
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key")
			pinFile := fs.String("pin-file", "", "a file holding the token's user PIN (else $"+token.PINEnv+")")
			timeout := fs.Duration("timeout", token.DefaultTimeout, "how long one call into the module may take")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("token check takes no arguments")
				}
				if *module == "" || *lic == "" || *vendorPub == "" {
					return usageErrorf("token check needs --module FILE, --license FILE and --vendor-pub FILE")
				}
				if *timeout <= 0 {
					return usageErrorf("token check: --timeout %s: want a positive duration such as 5s", *timeout)
				}
				out, err := tokenCheck(ctx, *module, *lic, *vendorPub, *pinFile, *timeout)
				if *asJSON {
					out.Error = errorObject(err)
					return e.writeOutcome(out, err)
				}
				printTokenCheck(e.Stdout, out)
				return err
			}
		},
	})
}

// tokenListJSON is 'token list --json'.
type tokenListJSON struct {
	Module token.ModuleInfo `json:"module"`
	Slots  []token.Token    `json:"slots"`
}

// jsonSlots makes nil key lists empty ones, so JSON readers see [].
func jsonSlots(ts []token.Token) []token.Token {
	if ts == nil {
		return []token.Token{}
	}
	for i := range ts {
		if ts[i].Keys == nil {
			ts[i].Keys = []token.Key{}
		}
	}
	return ts
}

func printTokens(w io.Writer, in token.ModuleInfo, ts []token.Token) {
	fmt.Fprintf(w, "module %s: %s, %s %s, PKCS#11 %s\n", in.Path, in.Manufacturer, in.Description, in.LibraryVersion, in.CryptokiVersion)
	if len(ts) == 0 {
		fmt.Fprintln(w, "no slots: the module sees no reader or device")
	}
	for _, t := range ts {
		fmt.Fprintf(w, "slot %d (%s)\n", t.Slot, t.SlotDescription)
		switch {
		case !t.Present:
			fmt.Fprintln(w, "  empty: no token in this slot")
			continue
		case !t.Initialized:
			fmt.Fprintln(w, "  a token that was never initialised (no keys)")
			continue
		}
		fmt.Fprintf(w, "  token %q serial %s, %s %s\n", t.Label, t.Serial, t.Manufacturer, t.Model)
		if f := tokenFlags(t); f != "" {
			fmt.Fprintf(w, "  flags: %s\n", f)
		}
		if len(t.Keys) == 0 {
			fmt.Fprintln(w, "  no ECDSA P-256 or Ed25519 public key readable without a login")
		}
		for _, k := range t.Keys {
			fmt.Fprintf(w, "  key %-5s label %q id %s thumbprint %s\n", k.Algorithm, k.Label, orDash(k.ID), k.Thumbprint)
		}
	}
}

func tokenFlags(t token.Token) string {
	var f []string
	if t.LoginRequired {
		f = append(f, "login required")
	}
	if t.PINFinalTry {
		f = append(f, "final PIN try: one more wrong PIN locks it")
	}
	if t.PINLocked {
		f = append(f, "PIN LOCKED")
	}
	return strings.Join(f, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tokenCheckJSON is 'token check --json' and what the text output says.
type tokenCheckJSON struct {
	License string                `json:"license,omitempty"` // its id
	Holder  string                `json:"holder,omitempty"`
	Binding string                `json:"binding,omitempty"` // machine, token, machine+token
	Want    *license.TokenBinding `json:"want,omitempty"`
	Module  *token.ModuleInfo     `json:"module,omitempty"`
	Tokens  []checkedToken        `json:"tokens"`
	Proof   *proofJSON            `json:"proof,omitempty"`
	Error   *errorJSON            `json:"error,omitempty"`
}

// checkedToken is a token present and whether it is the license's.
type checkedToken struct {
	Slot   uint   `json:"slot"`
	Label  string `json:"label"`
	Serial string `json:"serial"`
	// HoldsKey: one of its keys has the license's thumbprint.
	HoldsKey bool `json:"holdsKey"`
	// SerialMatches is false when the license names another serial.
	SerialMatches bool     `json:"serialMatches"`
	PINLocked     bool     `json:"pinLocked,omitempty"`
	Thumbprints   []string `json:"thumbprints"`
}

type proofJSON struct {
	Serial     string `json:"serial"`
	Thumbprint string `json:"thumbprint"`
	Algorithm  string `json:"alg"`
	Challenge  string `json:"challenge"` // hex
	Took       string `json:"took"`
}

// tokenCheck verifies the license, lists the tokens and runs the proof.
// out says as much as was learnt before an error.
func tokenCheck(ctx context.Context, module, lic, vendorPub, pinFile string, timeout time.Duration) (out tokenCheckJSON, err error) {
	out.Tokens = []checkedToken{}
	vendor, err := keys.LoadPublic(vendorPub)
	if err != nil {
		return out, err
	}
	l, err := license.Load(lic, vendor)
	if err != nil {
		return out, err
	}
	out.License, out.Holder, out.Binding, out.Want = l.ID, l.Holder, l.Binding(), l.Token
	if l.Token == nil {
		return out, codes.Errorf(codes.InvalidArgument, "license %s binds the machine alone: it names no hardware token to check", lic).
			WithFix("Check a license the vendor bound to a token ('licensor license show FILE' prints its binding).")
	}
	want := l.Token
	pin, err := token.ReadPIN(pinFile)
	if errors.Is(err, token.ErrNoPIN) {
		pin = nil // a token that needs no login signs anyway; others say so
	} else if err != nil {
		return out, err
	}
	m, err := token.Open(ctx, module, timeout)
	if err != nil {
		return out, err
	}
	defer m.Close()
	in := m.Info()
	out.Module = &in
	ts, err := m.Tokens(ctx)
	if err != nil {
		return out, err
	}
	for _, t := range ts {
		if !t.Present || !t.Initialized {
			continue
		}
		c := checkedToken{Slot: t.Slot, Label: t.Label, Serial: t.Serial, PINLocked: t.PINLocked,
			SerialMatches: want.Serial == "" || want.Serial == t.Serial, Thumbprints: []string{}}
		for _, k := range t.Keys {
			c.Thumbprints = append(c.Thumbprints, k.Thumbprint)
			c.HoldsKey = c.HoldsKey || k.Thumbprint == want.Thumbprint
		}
		out.Tokens = append(out.Tokens, c)
	}
	pr, err := m.Prove(ctx, token.Selector{Serial: want.Serial, Thumbprint: want.Thumbprint}, pin, want.Thumbprint)
	if err != nil {
		return out, err
	}
	out.Proof = &proofJSON{Serial: pr.Token.Serial, Thumbprint: pr.Key.Thumbprint, Algorithm: pr.Key.Algorithm,
		Challenge: fmt.Sprintf("%x", pr.Challenge), Took: pr.Took.Round(time.Microsecond).String()}
	return out, nil
}

func printTokenCheck(w io.Writer, out tokenCheckJSON) {
	if out.Want == nil {
		return
	}
	serial := "any serial"
	if out.Want.Serial != "" {
		serial = "serial " + out.Want.Serial
	}
	fmt.Fprintf(w, "license %s for %s binds %s: token key %s (%s), %s\n", out.License, out.Holder, out.Binding, out.Want.Thumbprint, out.Want.Alg, serial)
	if out.Module == nil {
		return
	}
	fmt.Fprintf(w, "module %s: %s %s\n", out.Module.Path, out.Module.Manufacturer, out.Module.Description)
	if len(out.Tokens) == 0 {
		fmt.Fprintln(w, "no token present")
	}
	for _, t := range out.Tokens {
		verdict := "holds the license's key"
		switch {
		case t.HoldsKey && !t.SerialMatches:
			verdict = "holds the license's key under serial " + t.Serial + ", not the license's " + out.Want.Serial
		case !t.HoldsKey && len(t.Thumbprints) == 0:
			verdict = "holds no usable key"
		case !t.HoldsKey:
			verdict = "another token: its keys are " + strings.Join(t.Thumbprints, ", ")
		}
		if t.PINLocked {
			verdict += "; its PIN is locked"
		}
		fmt.Fprintf(w, "slot %d: token %q serial %s %s\n", t.Slot, t.Label, t.Serial, verdict)
	}
	if p := out.Proof; p != nil {
		fmt.Fprintf(w, "proof: token serial %s signed a fresh challenge with key %s (%s) in %s, and it verifies: the token is present\n", p.Serial, p.Thumbprint, p.Algorithm, p.Took)
	}
}
