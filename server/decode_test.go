package server

import (
	"strings"
	"testing"

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req api.InstanceRequest
			err := decodeJSON([]byte(tt.body), &req)
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
	f.Fuzz(func(t *testing.T, body string) {
		var req api.InstanceRequest
		err := decodeJSON([]byte(body), &req)
		if err == nil {
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
