//go:build cgo

package token

import (
	"fmt"
	"strings"

	"github.com/licensor/licensor/codes"
)

// choose picks the token and key sel asks for among the slots a module
// lists (in slot order), for the module at path:
//
//   - no token in any slot: codes.HWNoToken;
//   - none with sel.TokenLabel: codes.HWNoToken;
//   - none with sel.Serial: codes.HWTokenWrong when sel.Thumbprint is set
//     (a license wants one token and another is there), else HWNoToken;
//   - no key of the label and id asked for on those tokens:
//     codes.HWKeyMissing;
//   - sel.Thumbprint set and no such key has it: codes.HWTokenWrong,
//     naming the thumbprint wanted and those the tokens hold.
//
// When several match, the first in slot order wins: among tokens holding
// keys with the right label, the one whose key has sel.Thumbprint.
func choose(path string, slots []Token, sel Selector) (Token, Key, error) {
	var present []Token
	for _, t := range slots {
		if t.Present && t.Initialized {
			present = append(present, t)
		}
	}
	if len(present) == 0 {
		return Token{}, Key{}, codes.Errorf(codes.HWNoToken, "module %s: no initialised token in any of its %d slots", path, len(slots))
	}
	if sel.TokenLabel != "" {
		present = filter(present, func(t Token) bool { return t.Label == sel.TokenLabel })
		if len(present) == 0 {
			return Token{}, Key{}, codes.Errorf(codes.HWNoToken, "module %s: no token labelled %q; present: %s", path, sel.TokenLabel, describe(slots))
		}
	}
	if sel.Serial != "" {
		all := present
		present = filter(present, func(t Token) bool { return t.Serial == sel.Serial })
		if len(present) == 0 {
			if sel.Thumbprint != "" {
				return Token{}, Key{}, codes.Errorf(codes.HWTokenWrong, "module %s: the license wants the token with serial %s and key %s; present: %s", path, sel.Serial, sel.Thumbprint, describe(all)).
					WithFix(fmt.Sprintf("Plug in the token with serial %s, the one the license binds; 'licensor token list --module %s' lists what is plugged in.", sel.Serial, path))
			}
			return Token{}, Key{}, codes.Errorf(codes.HWNoToken, "module %s: no token with serial %s; present: %s", path, sel.Serial, describe(all))
		}
	}
	type cand struct {
		t Token
		k Key
	}
	var cands []cand
	for _, t := range present {
		for _, k := range t.Keys {
			if (sel.KeyLabel == "" || k.Label == sel.KeyLabel) && (sel.KeyID == "" || k.ID == sel.KeyID) {
				cands = append(cands, cand{t, k})
			}
		}
	}
	if len(cands) == 0 {
		what := "an ECDSA P-256 or Ed25519 key"
		if sel.KeyLabel != "" || sel.KeyID != "" {
			what = "a key with " + Selector{KeyLabel: sel.KeyLabel, KeyID: sel.KeyID}.String()
		}
		return Token{}, Key{}, codes.Errorf(codes.HWKeyMissing, "module %s: no token holds %s; present: %s", path, what, describe(present))
	}
	if sel.Thumbprint == "" {
		return cands[0].t, cands[0].k, nil
	}
	for _, c := range cands {
		if c.k.Thumbprint == sel.Thumbprint {
			return c.t, c.k, nil
		}
	}
	var held []string
	for _, c := range cands {
		held = append(held, fmt.Sprintf("token serial %s key %s", c.t.Serial, c.k.Thumbprint))
	}
	return Token{}, Key{}, codes.Errorf(codes.HWTokenWrong, "module %s: the license binds token key %s, and no token present holds it: %s", path, sel.Thumbprint, strings.Join(held, "; ")).
		WithFix("Plug in the token the vendor bound the license to (key " + sel.Thumbprint + "); 'licensor token list --module " + path + "' lists each token's keys.")
}

func filter(ts []Token, keep func(Token) bool) []Token {
	var out []Token
	for _, t := range ts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// describe lists the tokens present in slots for a message: "slot 1:
// serial 6afb… label "A" (2 keys)", or "none".
func describe(slots []Token) string {
	var parts []string
	for _, t := range slots {
		if !t.Present || !t.Initialized {
			continue
		}
		parts = append(parts, fmt.Sprintf("slot %d: serial %s label %q (%d usable keys)", t.Slot, t.Serial, t.Label, len(t.Keys)))
	}
	if len(parts) == 0 {
		return "no token"
	}
	return strings.Join(parts, "; ")
}
