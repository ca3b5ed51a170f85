//go:build cgo

package token

import (
	"context"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/licensor/licensor/codes"
	"github.com/miekg/pkcs11"
)

const ckmECEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN, PKCS#11 3.0

// The curves' CKA_EC_PARAMS: their object identifiers, DER.
var (
	paramsP256    = mustDER(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	paramsEd25519 = mustDER(asn1.ObjectIdentifier{1, 3, 101, 112})
)

func mustDER(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// GenerateKey makes a key pair of alg (ES256 or EdDSA) on the one token
// sel picks (by Serial or TokenLabel; any token when there is one), with
// label and id: the private key is generated on the token, sensitive and
// not extractable, so it never leaves it. It returns the token and the
// new key, whose Thumbprint is what a license binds. A token that already
// holds a key with that label is refused (codes.FileExists): a vendor
// provisioning tokens never replaces a key a license may bind.
func (m *Module) GenerateKey(ctx context.Context, sel Selector, pin []byte, alg, label string, id []byte) (Token, Key, error) {
	mech, params := uint(pkcs11.CKM_EC_KEY_PAIR_GEN), paramsP256
	switch alg {
	case ES256:
	case EdDSA:
		mech, params = ckmECEdwardsKeyPairGen, paramsEd25519
	default:
		return Token{}, Key{}, codes.Errorf(codes.InvalidArgument, "key algorithm %q: want %s or %s", alg, ES256, EdDSA)
	}
	if label == "" {
		return Token{}, Key{}, codes.Errorf(codes.InvalidArgument, "a key label is required")
	}
	ts, err := m.Tokens(ctx)
	if err != nil {
		return Token{}, Key{}, err
	}
	var cands []Token
	for _, t := range ts {
		if t.Present && t.Initialized && (sel.Serial == "" || t.Serial == sel.Serial) && (sel.TokenLabel == "" || t.Label == sel.TokenLabel) {
			cands = append(cands, t)
		}
	}
	switch {
	case len(cands) == 0:
		return Token{}, Key{}, codes.Errorf(codes.HWNoToken, "module %s: no initialised token matches %s; present: %s", m.path, sel, describe(ts))
	case len(cands) > 1:
		return Token{}, Key{}, codes.Errorf(codes.InvalidArgument, "module %s: %d tokens match %s (%s): name one by its serial", m.path, len(cands), sel, describe(cands))
	}
	t := cands[0]
	if slices.ContainsFunc(t.Keys, func(k Key) bool { return k.Label == label }) {
		return Token{}, Key{}, codes.Errorf(codes.FileExists, "module %s: token serial %s already holds a key labelled %q", m.path, t.Serial, label).
			WithFix("Choose another key label; licensor never replaces a key on a token, since a license may bind it.")
	}
	err = m.lib.call(ctx, m.timeout, fmt.Sprintf("generating a key on slot %d", t.Slot), func() error {
		p := m.lib.p
		sh, err := p.OpenSession(t.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return m.fail("C_OpenSession", t.Slot, err)
		}
		defer p.CloseSession(sh)
		if err := p.Login(sh, pkcs11.CKU_USER, string(pin)); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
			return m.fail("C_Login", t.Slot, err)
		}
		defer p.Logout(sh)
		_, _, err = p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			})
		if isRV(err, pkcs11.CKR_MECHANISM_INVALID) {
			return codes.Errorf(codes.HWKeyMissing, "module %s: token serial %s does not generate %s keys", m.path, t.Serial, alg)
		}
		if err != nil {
			return m.fail("C_GenerateKeyPair", t.Slot, err)
		}
		return nil
	})
	if err != nil {
		return Token{}, Key{}, err
	}
	return m.Find(ctx, Selector{Serial: t.Serial, KeyLabel: label, KeyID: hex.EncodeToString(id)})
}
