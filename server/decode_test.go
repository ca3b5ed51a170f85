package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
)

func TestDecodeInstanceRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want codes.Code
	}{
		{"good", `{"product":"ocr","instance_id":"host-1/worker-3","mode":"async","nonce":"abc","calls":12}`, codes.OK},
		{"minimal", `{"product":"ocr","instance_id":"i"}`, codes.OK},
		{"not-json", `product=ocr`, codes.RequestMalformed},
		{"array", `[]`, codes.RequestMalformed},
		{"truncated", `{"product":"ocr"`, codes.RequestMalformed},
		{"unknown-field", `{"product":"ocr","instance_id":"i","seat":1}`, codes.RequestMalformed},
		{"trailing", `{"product":"ocr","instance_id":"i"} {}`, codes.RequestMalformed},
		{"wrong-type", `{"product":"ocr","instance_id":7}`, codes.RequestMalformed},
		{"no-product", `{"instance_id":"i"}`, codes.RequestMalformed},
		{"no-instance", `{"product":"ocr"}`, codes.RequestMalformed},
		{"space-in-id", `{"product":"ocr","instance_id":"a b"}`, codes.RequestMalformed},
		{"quote-in-id", `{"product":"ocr","instance_id":"a\"b"}`, codes.RequestMalformed},
		{"control-in-id", `{"product":"ocr","instance_id":"a\u0001b"}`, codes.RequestMalformed},
		{"bad-product", `{"product":"o/cr","instance_id":"i"}`, codes.RequestMalformed},
		{"bad-mode", `{"product":"ocr","instance_id":"i","mode":"fast"}`, codes.RequestMalformed},
		{"negative-calls", `{"product":"ocr","instance_id":"i","calls":-1}`, codes.RequestMalformed},
		{"long-id", `{"product":"ocr","instance_id":"` + strings.Repeat("i", 129) + `"}`, codes.RequestTooLarge},
		{"long-product", `{"product":"` + strings.Repeat("p", 65) + `","instance_id":"i"}`, codes.RequestTooLarge},
		{"long-nonce", `{"product":"ocr","instance_id":"i","nonce":"` + strings.Repeat("n", 129) + `"}`, codes.RequestTooLarge},
		{"repeated-field", `{"product":"ocr","instance_id":"i","product":"asr"}`, codes.RequestMalformed},
		{"other-case", `{"Product":"ocr","instance_id":"i"}`, codes.RequestMalformed},
		{"null-field", `{"product":"ocr","instance_id":"i","nonce":null}`, codes.RequestMalformed},
		{"fraction", `{"product":"ocr","instance_id":"i","calls":1.5}`, codes.RequestMalformed},
		{"escaped", `{"product":"\u006fcr","instance_id":"i"}`, codes.OK},
		{"verdict-false", `{"product":"ocr","instance_id":"i","verdict":false}`, codes.OK},
		{"verdict-true", `{"product":"ocr","instance_id":"i","verdict":true}`, codes.OK},
		{"verdict-string", `{"product":"ocr","instance_id":"i","verdict":"no"}`, codes.RequestMalformed},
		{"verdict-null", `{"product":"ocr","instance_id":"i","verdict":null}`, codes.RequestMalformed},
		{"verdict-number", `{"product":"ocr","instance_id":"i","verdict":0}`, codes.RequestMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := decodeInstanceRequest([]byte(tt.body))
			if err == nil {
				err = validate(&req)
			}
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("err = %v, want code %v", err, tt.want)
			}
		})
	}
}

func FuzzDecodeInstanceRequest(f *testing.F) {
	f.Add(`{"product":"ocr","instance_id":"host-1","mode":"async","nonce":"n","have_license":"lic_1","calls":3}`)
	f.Add(`{"product":"ocr","instance_id":"a b"}`)
	f.Add(`{"product":"ocr","instance_id":"i","verdict":false}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeInstanceRequest([]byte(body))
		if err == nil {
			// The hand-written decoder accepts only what encoding/json
			// accepts, with the same meaning.
			var want api.InstanceRequest
			if jerr := decodeJSON([]byte(body), &want); jerr != nil || !reflect.DeepEqual(want, req) {
				t.Fatalf("decoded %q as %+v; encoding/json: %+v, %v", body, req, want, jerr)
			}
			err = validate(&req)
		}
		switch codes.Of(err) {
		case codes.OK:
			if req.Product == "" || req.InstanceID == "" || len(req.InstanceID) > 128 || strings.ContainsAny(req.InstanceID, " \"\\\n") {
				t.Fatalf("accepted %+v", req)
			}
		case codes.RequestMalformed, codes.RequestTooLarge:
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func FuzzDecodeRevokeRequest(f *testing.F) {
	f.Add(`{"product":"ocr","instance_id":"host-1"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var rr RevokeRequest
		if err := decodeJSON([]byte(body), &rr); err != nil && codes.Of(err) != codes.RequestMalformed {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func TestDecodeKeyFileRequest(t *testing.T) {
	code := strings.Repeat("a", 32)
	tests := []struct {
		name string
		body string
		want codes.Code
	}{
		{"good", `{"machine_code":"` + code + `","products":["ocr"]}`, codes.OK},
		{"bad-code", `{"machine_code":"xyz"}`, codes.RequestMalformed},
		{"code-not-from-components", `{"machine_code":"` + code + `","components":{"mac":"` + code + `"}}`, codes.RequestMalformed},
		{"bad-component", `{"machine_code":"` + code + `","components":{"mac":"zz"}}`, codes.RequestMalformed},
		{"bad-product", `{"machine_code":"` + code + `","products":["a b"]}`, codes.RequestMalformed},
		{"unknown-field", `{"machine_code":"` + code + `","seats":3}`, codes.RequestMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req api.KeyFileRequest
			err := decodeJSON([]byte(tt.body), &req)
			if err == nil {
				err = validateKeyFileRequest(&req)
			}
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecodeKeyFileRequest(f *testing.F) {
	f.Add(`{"machine_code":"` + strings.Repeat("a", 32) + `","products":["ocr"]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var req api.KeyFileRequest
		err := decodeJSON([]byte(body), &req)
		if err == nil {
			err = validateKeyFileRequest(&req)
		}
		switch codes.Of(err) {
		case codes.OK, codes.RequestMalformed, codes.RequestTooLarge:
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzAppendVerdictBody holds the hand-written answer to encoding/json's:
// it decodes to the same body.
func FuzzAppendVerdictBody(f *testing.F) {
	f.Add("tok.en.sig", "", "ocr", "i-1", int64(1795435200), true, 20.0, 3, 10, 0, 0.0)
	f.Add("t", "LICENSE", "a\"b", "\xff\u2028", int64(-5), false, 1.0/3, -1, 0, 50, 12.5)
	f.Add("", "", "ocr", "i-1", int64(1795435200), true, 30.0, 1, 3, 100, 100.0) // a renewal: no verdict
	f.Fuzz(func(t *testing.T, tok, lic, product, id string, at int64, resumed bool, hb float64, held, limit, qps int, share float64) {
		b := api.VerdictBody{Code: 0, Name: "ok", Verdict: tok, License: lic, Lease: api.LeaseBody{Product: product, InstanceID: id,
			Since: time.Unix(at, 123).UTC(), Expires: time.Unix(at+60, 0).UTC(), Resumed: resumed, HeartbeatIn: hb, Held: held, Limit: limit}}
		if qps != 0 {
			b.QPS = &api.QPSBody{Licensed: qps, Share: share}
		}
		ref, err := json.Marshal(&b)
		if err != nil {
			return // NaN, infinities, years past 9999: encoding/json refuses them
		}
		out := appendVerdictBody(nil, &b)
		var got, want api.VerdictBody
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendVerdictBody wrote %s: %v", out, err)
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("appendVerdictBody decodes to\n %+v\nencoding/json to\n %+v", got, want)
		}
	})
}
