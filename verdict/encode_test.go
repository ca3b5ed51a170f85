package verdict

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzAppendJSON holds the hand-written encoding to encoding/json's: valid
// JSON that decodes to the same claims, byte for byte the same when the
// strings need no escaping encoding/json does differently.
func FuzzAppendJSON(f *testing.F) {
	f.Add("i-1", "ocr", "n0nce", "lic_1", "5027b9b969563cf6ab758613db5d4a50", "table", int64(1795435200), 0.0)
	f.Add("a\"b\\c\n", "x<y>&", "", "\xff", "", "", int64(-1), 1.0/3)
	f.Add("\u2028", "é", "😀", "", "", "f", int64(0), 1e21)
	f.Fuzz(func(t *testing.T, sub, product, nonce, lic, mc, fn string, at int64, qps float64) {
		c := &Claims{Issuer: Issuer, Subject: sub, Audience: Audience(product), IssuedAt: at, NotBefore: at - 60, Expires: at + 60,
			ID: "jti", Nonce: nonce, Product: product, Functions: []string{fn}, LicenseID: lic, Lease: at, QPS: qps, Machine: mc}
		if fn == "" {
			c.Functions = nil
		}
		ref, err := json.Marshal(c)
		if err != nil {
			return // NaN and infinities: encoding/json refuses them
		}
		out := c.AppendJSON(nil)
		var got, want Claims
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendJSON wrote %s: %v", out, err)
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("AppendJSON decodes to\n %+v\nencoding/json to\n %+v", got, want)
		}
	})
}

func TestAppendJSONBytes(t *testing.T) {
	c := &Claims{Issuer: Issuer, Subject: "i-1", Audience: Audience("ocr"), IssuedAt: 10, NotBefore: 5, Expires: 20, ID: "j",
		Nonce: "n", Product: "ocr", Functions: []string{"table"}, LicenseID: "lic_1", Lease: 20, QPS: 12.5, Machine: "m"}
	for _, c := range []*Claims{c, {Issuer: Issuer, Functions: []string{}}} {
		want, _ := json.Marshal(c)
		if got := c.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON =\n %s\nencoding/json writes\n %s", got, want)
		}
	}
}
