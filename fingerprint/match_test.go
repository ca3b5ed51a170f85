package fingerprint

import (
	"errors"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

func machineOf(f *Fingerprint) Machine { return Machine{Code: f.Code, Components: f.Hashes()} }

func TestMatch(t *testing.T) {
	licensed := collect(t, bareMetal(), "build-01")
	newNIC := collect(t, with(bareMetal(), "sys/class/net/eno1/address", "b0:26:28:aa:bb:03"), "build-01")
	noUUID := collect(t, without(bareMetal(), "sys/class/dmi/id/product_uuid"), "build-01")
	other := collect(t, kvmGuest(), "vm1")

	tests := []struct {
		name    string
		m       Machine
		min     int
		host    *Fingerprint
		wantMsg []string // empty: Match must pass
	}{
		{name: "same-host", m: machineOf(licensed), min: 0, host: licensed},
		{name: "exact-code-without-components", m: Machine{Code: licensed.Code}, min: 0, host: licensed},
		{name: "exact-code-despite-min", m: machineOf(licensed), min: 9, host: licensed},
		{name: "one-changed-min-4", m: machineOf(licensed), min: 4, host: newNIC},
		{
			name: "one-changed-min-5", m: machineOf(licensed), min: 5, host: newNIC,
			wantMsg: []string{
				"bound to machine " + licensed.Code, "this host is " + newNIC.Code,
				"changed: mac;", "4 of 5 components match, the license needs 5",
			},
		},
		{
			name: "one-changed-min-0-means-all", m: machineOf(licensed), min: 0, host: newNIC,
			wantMsg: []string{"changed: mac;", "4 of 5 components match, the license needs 5"},
		},
		{name: "one-missing-min-4", m: machineOf(licensed), min: 4, host: noUUID},
		{
			name: "one-missing-min-0", m: machineOf(licensed), min: 0, host: noUUID,
			wantMsg: []string{"missing on this host: product-uuid;", "4 of 5 components match, the license needs 5"},
		},
		{
			name: "all-different", m: machineOf(licensed), min: 1, host: other,
			wantMsg: []string{"changed: machine-id, product-uuid, mac, root-disk, hostname; 0 of 5 components match, the license needs 1"},
		},
		{
			name: "no-components-different-code", m: Machine{Code: licensed.Code}, min: 0, host: newNIC,
			wantMsg: []string{licensed.Code, newNIC.Code, "records no components"},
		},
		{
			name: "empty-code-never-matches", m: Machine{}, min: 0, host: &Fingerprint{},
			wantMsg: []string{"records no components"},
		},
		{
			name: "min-above-recorded", m: machineOf(licensed), min: 6, host: newNIC,
			wantMsg: []string{"4 of 5 components match, the license needs 6"},
		},
		{
			name: "unknown-component-is-missing",
			m: Machine{Code: strings.Repeat("0", 32), Components: map[string]string{
				MachineID: licensed.Hashes()[MachineID], "tpm-ek": strings.Repeat("a", 32),
			}},
			min: 0, host: licensed,
			wantMsg: []string{"missing on this host: tpm-ek;", "1 of 2 components match"},
		},
		{name: "no-host", m: machineOf(licensed), min: 0, host: nil, wantMsg: []string{"no fingerprint of this host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Match(tt.m, tt.min, tt.host)
			if len(tt.wantMsg) == 0 {
				if err != nil {
					t.Fatalf("Match = %v, want nil", err)
				}
				return
			}
			checkMismatch(t, err, tt.wantMsg...)
		})
	}
}

func checkMismatch(t *testing.T, err error, want ...string) {
	t.Helper()
	var e *codes.Error
	if !errors.As(err, &e) || e.Code != codes.Fingerprint {
		t.Fatalf("error = %v, want a *codes.Error with code %v", err, codes.Fingerprint)
	}
	for _, w := range want {
		if !strings.Contains(e.Msg, w) {
			t.Errorf("message %q lacks %q", e.Msg, w)
		}
	}
	if !strings.Contains(e.FixText(), "licensor") {
		t.Errorf("fix %q names no licensor command", e.FixText())
	}
}

func TestMismatchFix(t *testing.T) {
	licensed := collect(t, bareMetal(), "build-01")
	err := Match(machineOf(licensed), 0, collect(t, bareMetal(), "build-02"))
	if got := codes.As(err).Fix; !strings.Contains(got, "run 'licensor activation-request' on this host and send it to the vendor") {
		t.Errorf("fix = %q", got)
	}
}

func TestMatchAny(t *testing.T) {
	host := collect(t, with(bareMetal(), "sys/class/net/eno1/address", "b0:26:28:aa:bb:03"), "build-01")
	far := machineOf(collect(t, kvmGuest(), "vm1"))
	near := machineOf(collect(t, bareMetal(), "build-01"))

	t.Run("closest-named", func(t *testing.T) {
		err := MatchAny([]Machine{far, near, far}, 5, host)
		checkMismatch(t, err, "bound to machine "+near.Code, "changed: mac;", "4 of 5")
	})
	t.Run("first-of-a-tie", func(t *testing.T) {
		// Also 4 of 5: the new NIC, but another machine-id.
		tie := machineOf(collect(t, with(with(bareMetal(), "sys/class/net/eno1/address", "b0:26:28:aa:bb:03"), "etc/machine-id", "x"), "build-01"))
		checkMismatch(t, MatchAny([]Machine{far, near, tie}, 5, host), "bound to machine "+near.Code)
		checkMismatch(t, MatchAny([]Machine{far, tie, near}, 5, host), "bound to machine "+tie.Code, "changed: machine-id;")
	})
	t.Run("tolerant-match", func(t *testing.T) {
		if err := MatchAny([]Machine{far, near}, 4, host); err != nil {
			t.Errorf("MatchAny = %v, want nil", err)
		}
	})
	t.Run("exact-match", func(t *testing.T) {
		if err := MatchAny([]Machine{far, {Code: host.Code}}, 0, host); err != nil {
			t.Errorf("MatchAny = %v, want nil", err)
		}
	})
	t.Run("no-machines", func(t *testing.T) {
		checkMismatch(t, MatchAny(nil, 0, host), "bound to no machine")
	})
	t.Run("no-host", func(t *testing.T) {
		checkMismatch(t, MatchAny([]Machine{near}, 0, nil), "no fingerprint of this host")
	})
}
