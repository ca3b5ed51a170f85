package codes

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/errors.md from the table")

func TestDocs(t *testing.T) {
	const path = "../docs/errors.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run 'go test ./codes -run TestDocs -update'", path)
	}
}

func TestTable(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, in := range All() {
		t.Run(in.Name, func(t *testing.T) {
			if !name.MatchString(in.Name) {
				t.Errorf("name %q is not snake_case", in.Name)
			}
			if in.Meaning == "" || in.Fix == "" {
				t.Errorf("code %d lacks a meaning or a fix", in.Code)
			}
			if in.Code > 0 && in.Code < 100 && in.HTTPStatus != 0 {
				t.Errorf("transport code %d has an HTTP status; only clients produce it", in.Code)
			}
			byNum, ok := Lookup(fmt.Sprint(int(in.Code)))
			if !ok || byNum.Name != in.Name {
				t.Errorf("Lookup(%d) = %v, %v", in.Code, byNum, ok)
			}
			byName, ok := Lookup(in.Name)
			if !ok || byName.Code != in.Code {
				t.Errorf("Lookup(%q) = %v, %v", in.Name, byName, ok)
			}
		})
	}
}

// The numbers operators already know must never move.
func TestStableNumbers(t *testing.T) {
	want := map[Code]string{
		0: "ok", -1: "unknown", 1: "protocol", 6: "resolve", 7: "connect", 28: "timeout",
		35: "tls_handshake", 58: "client_cert", 60: "server_cert", 77: "ca_file",
		501: "instance_limit", 502: "legacy_unauthorized", 503: "expired", 504: "qps_needs_async",
		505: "qps_exceeded", 506: "async_dead", 507: "stale", 508: "product_unlicensed",
		509: "fingerprint", 2012: "all_servers_down",
	}
	for c, name := range want {
		if got := c.Name(); got != name {
			t.Errorf("code %d is %q, want %q", c, got, name)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, s := range []string{"", "999", "nope", "5O9"} {
		if in, ok := Lookup(s); ok {
			t.Errorf("Lookup(%q) = %v, want not found", s, in)
		}
	}
	if _, ok := Code(4242).Info(); ok {
		t.Error("Code(4242).Info() found a row")
	}
}

func TestError(t *testing.T) {
	cause := errors.New("disk on fire")
	err := fmt.Errorf("loading: %w", Errorf(Fingerprint, "bound to %s: %w", "3f00", cause))
	if got := Of(err); got != Fingerprint {
		t.Fatalf("Of = %v, want %v", got, Fingerprint)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is not reachable with errors.Is")
	}
	if !errors.Is(err, &Error{Code: Fingerprint}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(err, &Error{Code: Expired}) {
		t.Error("errors.Is matched another code")
	}
	if got, want := As(err).Error(), "code=509 fingerprint: bound to 3f00: disk on fire"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := Of(errors.New("plain")); got != Unknown {
		t.Errorf("Of(plain) = %v, want unknown", got)
	}
	if Of(nil) != OK {
		t.Error("Of(nil) != OK")
	}
	e := Errorf(Expired, "x").WithFix("renew it")
	if e.FixText() != "renew it" {
		t.Errorf("FixText = %q", e.FixText())
	}
}
