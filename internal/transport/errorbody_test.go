package transport

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
)

// body is the error body a licensor server writes for code c.
func body(c codes.Code, msg, fix string) string {
	b, _ := json.Marshal(api.ErrorBody{Code: int(c), Name: c.Name(), Message: msg, Fix: fix})
	return string(b)
}

func TestErrorFromBody(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   codes.Code
		say    []string // in the message
	}{
		{"instance-limit", 429, body(codes.InstanceLimit, "2 of 2 held", "wait"), codes.InstanceLimit, []string{"2 of 2 held"}},
		{"expired", 403, body(codes.Expired, "ended", ""), codes.Expired, []string{"ended"}},
		{"unknown-from-the-server", 500, body(codes.Unknown, "boom", ""), codes.Unknown, []string{"boom"}},
		{"store-unavailable", 503, body(codes.StoreUnavailable, "disk", ""), codes.StoreUnavailable, nil},
		{"lease-not-owned", 403, body(codes.LeaseNotOwned, "another's", ""), codes.LeaseNotOwned, nil},

		{"claims-ok-with-403", 403, `{"code":0,"name":"ok"}`, codes.WeirdReply, []string{"HTTP 403", "code 0", `"ok"`}},
		{"claims-ok-with-500", 500, `{"code":0,"name":"ok","message":"authorized"}`, codes.WeirdReply, []string{"HTTP 500", "code 0"}},
		{"claims-ok-with-200", 200, `{"code":0,"name":"ok"}`, codes.WeirdReply, []string{"HTTP 200", "code 0"}},
		{"name-without-code", 403, `{"name":"expired"}`, codes.WeirdReply, []string{"HTTP 403", "code 0"}},
		{"code-not-in-table", 403, `{"code":999,"name":"vendor_bug"}`, codes.WeirdReply, []string{"HTTP 403", "999", "vendor_bug"}},
		{"negative-code-not-in-table", 403, `{"code":-7,"name":"x"}`, codes.WeirdReply, []string{"-7"}},
		{"status-does-not-match", 429, body(codes.Expired, "ended", ""), codes.WeirdReply, []string{"HTTP 429", "503 expired", "HTTP 403"}},
		{"verdict-code-as-500", 500, body(codes.ProductUnlicensed, "", ""), codes.WeirdReply, []string{"HTTP 500", "508"}},
		{"name-is-not-the-codes", 429, `{"code":501,"name":"ok"}`, codes.WeirdReply, []string{"HTTP 429", `"ok"`, "instance_limit"}},
		{"client-only-code", 500, body(codes.Stale, "", ""), codes.WeirdReply, []string{"HTTP 500", "507 stale", "only a client"}},
		{"weird-reply-itself", 500, body(codes.WeirdReply, "", ""), codes.WeirdReply, []string{"only a client"}},
		{"transport-code", 500, body(codes.Connect, "", ""), codes.WeirdReply, []string{"7 connect"}},
		{"html", 502, "<html><body>502 Bad Gateway</body></html>", codes.WeirdReply, []string{"HTTP 502", "without a licensor error body"}},
		{"empty", 404, "", codes.WeirdReply, []string{"HTTP 404", "without"}},
		{"empty-object", 403, "{}", codes.WeirdReply, []string{"without"}},
		{"code-as-string", 403, `{"code":"501","name":"instance_limit"}`, codes.WeirdReply, []string{"without"}},
		{"code-overflows", 403, `{"code":1e30,"name":"instance_limit"}`, codes.WeirdReply, []string{"without"}},
		{"a-list", 403, `[{"code":501}]`, codes.WeirdReply, []string{"without"}},
		{"long-name-cut", 403, `{"code":999,"name":"` + strings.Repeat("n", 5000) + `"}`, codes.WeirdReply, []string{"…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ErrorFromBody("https://auth:8443", tt.status, []byte(tt.body))
			if e == nil || e.Code != tt.want {
				t.Fatalf("ErrorFromBody = %v, want code %v", e, tt.want)
			}
			for _, s := range tt.say {
				if !strings.Contains(e.Msg, s) {
					t.Errorf("message %q does not say %q", e.Msg, s)
				}
			}
			if e.Code == codes.WeirdReply && !strings.HasPrefix(e.Msg, "https://auth:8443 answered ") {
				t.Errorf("message %q does not name who answered", e.Msg)
			}
			if len(e.Msg) > 300 {
				t.Errorf("message is %d bytes long", len(e.Msg))
			}
		})
	}
	// A genuine body keeps its message and fix.
	e := ErrorFromBody("", http.StatusTooManyRequests, []byte(body(codes.InstanceLimit, "2 of 2 held", "stop one")))
	if e.Msg != "2 of 2 held" || e.FixText() != "stop one" {
		t.Errorf("genuine body: %q, fix %q", e.Msg, e.FixText())
	}
	if e := ErrorFromBody("", 403, []byte(`{"code":0,"name":"ok"}`)); !strings.HasPrefix(e.Msg, "the server answered HTTP 403") {
		t.Errorf("without from: %q", e.Msg)
	}
}

// TestErrorFromBodyEveryCode: every code a server can send, with the
// status the table gives it, comes back as itself; sent with any other
// status it is weird.
func TestErrorFromBodyEveryCode(t *testing.T) {
	for _, in := range codes.All() {
		for _, status := range []int{200, 400, 401, 403, 404, 409, 413, 429, 500, 503} {
			e := ErrorFromBody("", status, []byte(body(in.Code, "m", "")))
			want := codes.WeirdReply
			if in.Code != codes.OK && in.HTTPStatus == status {
				want = in.Code
			}
			if e.Code != want {
				t.Errorf("code %v with HTTP %d: %v, want %v", in.Code, status, e, want)
			}
		}
	}
}

// FuzzErrorFromBody: whatever a server answers, a failure answer never
// comes out as ok, and only a body the table vouches for keeps its code.
func FuzzErrorFromBody(f *testing.F) {
	f.Add(403, []byte(`{"code":0,"name":"ok"}`))
	f.Add(429, []byte(body(codes.InstanceLimit, "full", "wait")))
	f.Add(500, []byte(body(codes.Stale, "", "")))
	f.Add(502, []byte("<html>502 Bad Gateway</html>"))
	f.Add(403, []byte(`{"code":999,"name":"vendor_bug"}`))
	f.Add(200, []byte(`{"code":501,"name":"instance_limit"}`))
	f.Fuzz(func(t *testing.T, status int, data []byte) {
		e := ErrorFromBody("s", status, data)
		if e == nil || e.Code == codes.OK {
			t.Fatalf("HTTP %d %q: %v", status, data, e)
		}
		if e.Code == codes.WeirdReply {
			if !strings.Contains(e.Msg, "HTTP ") {
				t.Fatalf("weird reply without the status: %q", e.Msg)
			}
			return
		}
		in, known := e.Code.Info()
		if !known || in.HTTPStatus != status {
			t.Fatalf("HTTP %d %q: kept code %v, whose status is %d", status, data, e.Code, in.HTTPStatus)
		}
	})
}
