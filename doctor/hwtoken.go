package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
)

// HWTokenCheckNames are the hardware token checks, in the order they run:
// the dongle vendors' "is the driver running", "is the token recognised"
// and "is it the license's".
var HWTokenCheckNames = []string{"token-module", "token-present", "token-key"}

// HWTokenOptions are what the token checks are told.
type HWTokenOptions struct {
	Module  string        // the PKCS#11 module's path
	Timeout time.Duration // bounds each call into it; token.DefaultTimeout when 0
	// PINFile holds the token's user PIN; "" reads LICENSOR_TOKEN_PIN.
	// Without either, token-key finds the key but does not sign.
	PINFile string
	// LicenseFile and VendorPub give the license whose token key
	// token-key looks for; without them it is skipped.
	LicenseFile, VendorPub string
}

// DiagnoseHWTokens runs the token checks: token-module (the module loads
// and initialises), token-present (a token is in a slot; its serial),
// token-key (the license's key is on a token, and it signs a fresh
// challenge). Each needs the one before.
func DiagnoseHWTokens(ctx context.Context, o HWTokenOptions) []Result {
	tc := &hwTokenChecks{o: o}
	defer tc.close()
	return runChecks(ctx, []Check{
		{Name: "token-module", Run: tc.module},
		{Name: "token-present", Needs: []string{"token-module"}, Run: tc.present},
		{Name: "token-key", Needs: []string{"token-present"}, Run: tc.key},
	}, func(r Result) Result { return r })
}

// hwTokenChecks is what the token checks learn, each from the one before.
type hwTokenChecks struct {
	o      HWTokenOptions
	m      *token.Module
	tokens []token.Token
}

func (tc *hwTokenChecks) close() {
	if tc.m != nil {
		tc.m.Close()
	}
}

func (tc *hwTokenChecks) module(ctx context.Context) Result {
	const name = "token-module"
	m, err := token.Open(ctx, tc.o.Module, tc.o.Timeout)
	if err != nil {
		r := fail(name, err)
		if codes.Of(err) == codes.HWModule {
			r.Details = append(r.Details, "the module is the token vendor's PKCS#11 library (.so), such as /usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so; 'ls -l "+tc.o.Module+"' shows whether it is there and readable")
		}
		return r
	}
	tc.m = m
	in := m.Info()
	return pass(name, "module %s loads: %s, %s %s, PKCS#11 %s", in.Path, in.Manufacturer, in.Description, in.LibraryVersion, in.CryptokiVersion)
}

func (tc *hwTokenChecks) present(ctx context.Context) Result {
	const name = "token-present"
	ts, err := tc.m.Tokens(ctx)
	if err != nil {
		return fail(name, err)
	}
	tc.tokens = ts
	var found []string
	var details []string
	for _, t := range ts {
		switch {
		case !t.Present:
			details = append(details, fmt.Sprintf("slot %d (%s): empty", t.Slot, t.SlotDescription))
		case !t.Initialized:
			details = append(details, fmt.Sprintf("slot %d: a token that was never initialised (no keys)", t.Slot))
		default:
			found = append(found, "serial "+t.Serial)
			line := fmt.Sprintf("slot %d: token %q serial %s (%s %s), %d usable keys", t.Slot, t.Label, t.Serial, t.Manufacturer, t.Model, len(t.Keys))
			if t.PINLocked {
				line += "; its user PIN is LOCKED"
			} else if t.PINFinalTry {
				line += "; one more wrong PIN locks it"
			}
			details = append(details, line)
			for _, k := range t.Keys {
				details = append(details, fmt.Sprintf("  key %s label %q id %s thumbprint %s", k.Algorithm, k.Label, orDash(k.ID), k.Thumbprint))
			}
		}
	}
	if len(found) == 0 {
		r := fail(name, codes.Errorf(codes.HWNoToken, "module %s sees %d slots and no initialised token in them", tc.o.Module, len(ts)))
		r.Details = details
		return r
	}
	r := pass(name, "%d token(s): %s", len(found), strings.Join(found, ", "))
	r.Details = details
	return r
}

func (tc *hwTokenChecks) key(ctx context.Context) Result {
	const name = "token-key"
	o := tc.o
	if o.LicenseFile == "" || o.VendorPub == "" {
		return skip(name, "give --license and --vendor-pub: the license names the token key to look for")
	}
	b, err := licenseBinding(o.LicenseFile, o.VendorPub)
	if err != nil {
		return fail(name, err)
	}
	if b == nil {
		return skip(name, "license "+o.LicenseFile+" binds the machine alone: it names no token key")
	}
	sel := token.Selector{Serial: b.Serial, Thumbprint: b.Thumbprint}
	t, k, err := tc.m.Find(ctx, sel)
	if err != nil {
		return fail(name, err)
	}
	where := fmt.Sprintf("the license's key %s (%s) is on token serial %s, label %q id %s", k.Thumbprint, k.Algorithm, t.Serial, k.Label, orDash(k.ID))
	pin, err := token.ReadPIN(o.PINFile)
	if errors.Is(err, token.ErrNoPIN) {
		return Result{Name: name, Status: Warn, Found: where + "; not signed: no PIN given",
			Fix: "Give the token's user PIN with --pin-file FILE (mode 600) or " + token.PINEnv + " to have the token sign a challenge, as the site server does."}
	}
	if err != nil {
		return fail(name, err)
	}
	pr, err := tc.m.Prove(ctx, sel, pin, b.Thumbprint)
	if err != nil {
		return fail(name, err)
	}
	return pass(name, "%s, and it signed a fresh challenge that verifies with that key (%s)", where, pr.Took.Round(time.Microsecond))
}

// licenseBinding verifies the license with the vendor key and returns the
// token it binds, nil for none.
func licenseBinding(path, vendorPub string) (*license.TokenBinding, error) {
	vendor, err := keys.LoadPublic(vendorPub)
	if err != nil {
		return nil, err
	}
	l, err := license.Load(path, vendor)
	if err != nil {
		return nil, err
	}
	return l.Token, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
