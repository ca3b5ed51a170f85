package keyfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeClaims holds the hand-written decoder to encoding/json:
// whatever it accepts, encoding/json accepts with the same meaning.
func FuzzDecodeClaims(f *testing.F) {
	fx := newFixture(f)
	s, err := Parse(fx.issue(f, nil))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(s.claims)
	f.Add(good)
	f.Add([]byte(`{"v":1,"components":null,"products":[{"subject":"a","functions":null,"not_after":-1}]}`))
	f.Add([]byte(`{"mc":"\u0041","components":{"a":"b","a\u0000":"c"},"products":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeClaims(string(data))
		if err != nil {
			return
		}
		var want Claims
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(&want)
		if err == nil && dec.More() {
			err = errors.New("data after the JSON value")
		}
		if err != nil {
			t.Fatalf("decodeClaims accepted what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeClaims and encoding/json differ on %q:\n %+v\n %+v", data, got, want)
		}
	})
}
