package keys

import (
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/c2sp/wycheproof"
)

// TestWycheproof runs licensor's signature check over the Wycheproof
// Ed25519 vectors: every valid signature is accepted, every invalid one
// refused.
func TestWycheproof(t *testing.T) {
	data, err := fs.ReadFile(wycheproof.TestVectors, "ed25519_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		NumberOfTests int `json:"numberOfTests"`
		TestGroups    []struct {
			PublicKey struct {
				PK string `json:"pk"`
			} `json:"publicKey"`
			Tests []struct {
				TcID    int    `json:"tcId"`
				Comment string `json:"comment"`
				Msg     string `json:"msg"`
				Sig     string `json:"sig"`
				Result  string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, g := range file.TestGroups {
		pub := mustHex(t, g.PublicKey.PK)
		for _, tc := range g.Tests {
			msg, sig := mustHex(t, tc.Msg), mustHex(t, tc.Sig)
			got := Verify(pub, msg, sig)
			switch tc.Result {
			case "valid":
				if !got {
					t.Errorf("tcId %d (%s): valid signature refused", tc.TcID, tc.Comment)
				}
			case "invalid":
				if got {
					t.Errorf("tcId %d (%s): invalid signature accepted", tc.TcID, tc.Comment)
				}
			default:
				t.Errorf("tcId %d: unexpected result %q", tc.TcID, tc.Result)
			}
			ran++
		}
	}
	if ran != file.NumberOfTests || ran < 100 {
		t.Fatalf("ran %d vectors, the file has %d", ran, file.NumberOfTests)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
