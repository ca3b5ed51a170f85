package storeopen

import (
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		setting string
		code    codes.Code // 0: accepted
	}{
		{"", 0},
		{"sqlite:/var/lib/licensor/pool.db", 0},
		{"sqlite:", codes.StoreRefused},
		{"postgres://licensor@db.example.com:5432/licensor?sslmode=verify-full", 0},
		{"postgresql://licensor@db1,db2/licensor?target_session_attrs=read-write", 0},
		{"postgres://licensor:secret@db/licensor", codes.StoreRefused},
		{"postgres://licensor@db/licensor?password=secret", codes.StoreRefused},
		{"postgres://%zz", codes.StoreRefused},
		{"mysql://db/licensor", codes.StoreRefused},
		{"/var/lib/licensor/pool.db", codes.StoreRefused},
	}
	for _, tt := range tests {
		err := Check(tt.setting)
		if codes.Of(err) != tt.code {
			t.Errorf("Check(%q) = %v, want code %d", tt.setting, err, tt.code)
		}
		if err != nil && codes.As(err).FixText() == "" {
			t.Errorf("Check(%q): no fix", tt.setting)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Check(%q) repeats the password: %v", tt.setting, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://licensor:secret@db/licensor":          "postgres://licensor:xxxxx@db/licensor",
		"postgres://licensor@db/licensor?password=secret": "postgres://licensor@db/licensor?password=xxxxx",
		"postgres://licensor@db/licensor":                 "postgres://licensor@db/licensor",
		"sqlite:/x.db":                                    "sqlite:/x.db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCheck: any setting is accepted or refused with a code, and a
// refusal never repeats a password written in it.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "sqlite:x", "postgres://u:pw@h/db", "postgres://u@h/db?password=pw", "postgresql://%", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, setting string) {
		err := Check(setting)
		if err == nil {
			return
		}
		if codes.Of(err) != codes.StoreRefused {
			t.Fatalf("Check(%q) = %v, want code %d", setting, err, codes.StoreRefused)
		}
		if strings.HasPrefix(setting, "postgres://u:secretpw@") && strings.Contains(err.Error(), "secretpw") {
			t.Fatalf("Check(%q) repeats the password: %v", setting, err)
		}
	})
}
