package sdk

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/verdict"
)

func FuzzConfigFromEnv(f *testing.F) {
	f.Add("LICENSOR_SERVERS=https://a:8443,https://b:8443\nLICENSOR_ASYNC=1\nLICENSOR_READ_TIMEOUT=2s")
	f.Add("LICENSOR_NOPE=1")
	f.Add("PATH=/bin\nLICENSOR_CONNECT_TIMEOUT=-1s")
	f.Fuzz(func(t *testing.T, env string) {
		c, err := configFromEnv(strings.Split(env, "\n"))
		if err != nil {
			if codes.Of(err) != codes.ConfigInvalid {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if c.ConnectTimeout < 0 || c.ReadTimeout < 0 {
			t.Fatalf("accepted a negative timeout: %+v", c)
		}
	})
}

// FuzzCheckAnswer feeds arbitrary server answers to the chain-of-trust
// check: nothing but a verdict signed by the licensed server key may pass,
// or, to a heartbeat that asked for the renewal alone (renewal), a
// renewal for this very instance and product, with no license in it.
func FuzzCheckAnswer(f *testing.F) {
	vendorPub, vendorPriv, _ := keys.Generate()
	serverPub, serverPriv, _ := keys.Generate()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	host := &fingerprint.Fingerprint{Code: strings.Repeat("a", 32)}
	file, err := license.Sign(&license.License{Holder: "ACME", Issuer: "V", Issued: now,
		Machines: []fingerprint.Machine{{Code: host.Code}}, ServerKey: keys.PublicJWK(serverPub),
		Products: []license.Product{{Subject: "ocr", InstanceSize: 1, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}}}, vendorPriv)
	if err != nil {
		f.Fatal(err)
	}
	signed, _ := license.Parse(file)
	l, _ := signed.Verify(vendorPub)
	tok, _ := verdict.Sign(serverPriv, keys.ID(serverPub), &verdict.Claims{Issuer: verdict.Issuer, Subject: "i-1", Audience: verdict.Audience("ocr"),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(time.Minute).Unix(), Nonce: "n1", Product: "ocr", LicenseID: l.ID, Machine: host.Code})
	good, _ := json.Marshal(api.VerdictBody{Verdict: tok, License: signed.Compact})
	f.Add(200, good, false)
	// A cluster license, and a verdict by its second node.
	node2Pub, node2Priv, _ := keys.Generate()
	node2 := strings.Repeat("b", 32)
	clusterFile, err := license.Sign(&license.License{Holder: "ACME", Issuer: "V", Issued: now,
		Cluster: []license.Node{{Name: "n1", Machine: fingerprint.Machine{Code: host.Code}, ServerKey: keys.PublicJWK(serverPub)},
			{Name: "n2", Machine: fingerprint.Machine{Code: node2}, ServerKey: keys.PublicJWK(node2Pub)}},
		Products: []license.Product{{Subject: "ocr", InstanceSize: 1, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}}}, vendorPriv)
	if err != nil {
		f.Fatal(err)
	}
	cs, _ := license.Parse(clusterFile)
	cl, _ := cs.Verify(vendorPub)
	ctok, _ := verdict.Sign(node2Priv, keys.ID(node2Pub), &verdict.Claims{Issuer: verdict.Issuer, Subject: "i-1", Audience: verdict.Audience("ocr"),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(time.Minute).Unix(), Nonce: "n1", Product: "ocr", LicenseID: cl.ID, Machine: node2})
	clusterGood, _ := json.Marshal(api.VerdictBody{Verdict: ctok, License: cs.Compact})
	f.Add(200, clusterGood, false)
	f.Add(403, []byte(`{"code":501,"name":"instance_limit","message":"full","fix":"wait"}`), false)
	f.Add(429, []byte(`{"code":501,"name":"instance_limit","message":"full","fix":"wait"}`), false)
	f.Add(403, []byte(`{"code":0,"name":"ok"}`), false)
	f.Add(200, []byte(`{"verdict":"a.b.c","license":"x"}`), false)
	renewal := []byte(`{"code":0,"name":"ok","lease":{"product":"ocr","instance_id":"i-1","expires":"2026-11-23T12:01:30Z"}}`)
	f.Add(200, renewal, true)
	f.Add(200, renewal, false)
	f.Add(200, []byte(`{"code":0,"name":"ok","license":"x","lease":{"product":"ocr","instance_id":"i-1"}}`), true)
	f.Add(200, good, true)
	f.Fuzz(func(t *testing.T, status int, body []byte, renewalOK bool) {
		c := &Client{cfg: Config{Product: "ocr", InstanceID: "i-1"}, clock: fixedClock(now), vendor: vendorPub, lic: l, licRaw: signed.Compact}
		a, err := c.check("s", status, body, "n1", renewalOK)
		if err == nil && a.renewal {
			if !renewalOK || status != 200 || a.claims != nil || a.body.Lease.InstanceID != "i-1" || a.body.Lease.Product != "ocr" || a.body.License != "" {
				t.Fatalf("accepted status %d body %q as a renewal", status, body)
			}
			return
		}
		if err == nil && (status != 200 || a.claims.Subject != "i-1" || a.claims.Product != "ocr" || a.claims.Nonce != "n1") {
			t.Fatalf("accepted status %d body %q", status, body)
		}
		if err != nil && codes.Of(err) == codes.OK {
			t.Fatalf("status %d body %q: an error with code 0: %v", status, body, err)
		}
		if err != nil && codes.Of(err) == codes.Unknown {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
