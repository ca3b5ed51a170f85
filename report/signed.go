package report

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/jws"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
)

// A signed report is what a site sends its vendor for a true-up: the
// report, the vendor-signed license it was made under, and where each
// audit chain stood at the period's start and end, signed by the site
// server's key (a JWS, EdDSA). The vendor checks the license with its
// own key, the signature with a server key that license trusts, and the
// chain positions: the events the report sums are those between the two
// positions of each chain, which the server verified link by link before
// signing. Reports of consecutive periods share their boundary position,
// so a log cut or rewritten between two reports shows (VerifyOptions.
// Previous); a chain that starts inside the period starts at event 1.

// SignedType is the JWS "typ" of a signed report.
const SignedType = "licensor-usage-report"

// MaxSignedSize bounds a signed report file.
const MaxSignedSize = 16 << 20

// Position is where one node's audit chain stood: its last event before
// the time (Seq 0 and no hash before the chain's first event).
type Position struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash,omitempty"` // hex SHA-256 of the event
}

// Chain is one node's audit chain over the period.
type Chain struct {
	Node  string   `json:"node,omitempty"`
	Start Position `json:"start"`
	End   Position `json:"end"`
}

// Payload is what the server signs.
type Payload struct {
	Type     string    `json:"type"` // SignedType
	Report   *Report   `json:"report"`
	License  string    `json:"license"` // the license in force, compact JWS as the vendor signed it
	LogStart time.Time `json:"log_start"`
	Chains   []Chain   `json:"chains"`
	Signed   time.Time `json:"signed"`
}

// File is the signed report file: the JWS, and the payload beside it for
// people to read (it must be the signed payload, byte for byte).
type File struct {
	Signed  string          `json:"signed"`
	Payload json.RawMessage `json:"payload"`
}

// SignOptions is what signing needs from the server.
type SignOptions struct {
	Key     ed25519.PrivateKey
	License string // compact JWS of the license in force
}

// BuildSigned builds the report q asks for and signs it. It refuses
// (codes.ReportPeriodUncovered) a period the log does not cover, and
// verifies the audit chains over the period (codes.AuditTampered).
func BuildSigned(ctx context.Context, src Source, q Query, o SignOptions) ([]byte, error) {
	raw := q
	q, err := normalize(q)
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "%v", err)
	}
	if !raw.To.IsZero() && raw.To.After(q.Now) {
		return nil, codes.Errorf(codes.ReportPeriodUncovered, "the period ends at %s, after now (%s): a signed report covers time already past",
			raw.To.UTC().Format(time.RFC3339), q.Now.Format(time.RFC3339))
	}
	first, ok, err := firstEvent(ctx, src)
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
	}
	if !ok || first.Time.After(q.From) {
		since := "it is empty"
		if ok {
			since = "it starts at " + first.Time.Format(time.RFC3339)
		}
		return nil, codes.Errorf(codes.ReportPeriodUncovered, "the audit log does not cover the period from %s: %s", q.From.Format(time.RFC3339), since)
	}
	chains, err := positions(ctx, src, q.From, q.To)
	if err != nil {
		return nil, err
	}
	r, err := Build(ctx, src, q)
	if err != nil {
		return nil, err
	}
	p := Payload{Type: SignedType, Report: r, License: o.License, LogStart: first.Time, Chains: chains, Signed: q.Now}
	return Sign(p, o.Key)
}

// Sign signs p with key and returns the file.
func Sign(p Payload, key ed25519.PrivateKey) ([]byte, error) {
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	kid := keys.ID(key.Public().(ed25519.PublicKey))
	compact, err := jws.Sign(key, payload, kid, SignedType)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(File{Signed: compact, Payload: payload})
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// positions finds each chain's position at from and at to, and verifies
// every event between them.
func positions(ctx context.Context, src Source, from, to time.Time) ([]Chain, error) {
	starts, err := src.ChainAt(ctx, from)
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
	}
	ends, err := src.ChainAt(ctx, to)
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
	}
	byNode := map[string]*Chain{}
	var order []string
	for _, e := range ends {
		byNode[e.Node] = &Chain{Node: e.Node, End: Position{Seq: e.Seq, Hash: hex.EncodeToString(e.Hash)}}
		order = append(order, e.Node)
	}
	verifiers := map[string]*store.Verifier{}
	after := int64(-1)
	for _, e := range starts {
		c := byNode[e.Node]
		if c == nil {
			continue
		}
		c.Start = Position{Seq: e.Seq, Hash: hex.EncodeToString(e.Hash)}
		verifiers[e.Node] = store.VerifierFrom(e)
		if after < 0 || e.Seq < after {
			after = e.Seq
		}
	}
	for _, n := range order {
		if verifiers[n] == nil {
			verifiers[n] = &store.Verifier{} // the chain starts in the period: from event 1
			after = 0
		}
	}
	if after < 0 {
		after = 0
	}
	err = src.Audit(ctx, after, func(e store.Event) error {
		c := byNode[e.Node]
		if c == nil || e.Seq <= c.Start.Seq || e.Seq > c.End.Seq {
			return nil
		}
		return verifiers[e.Node].Check(e)
	})
	var ce *store.ChainError
	if errors.As(err, &ce) {
		return nil, codes.Errorf(codes.AuditTampered, "%v; a report is signed only over an audit log that verifies", ce)
	}
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
	}
	out := make([]Chain, 0, len(order))
	for _, n := range order {
		c := byNode[n]
		if got := verifiers[n].Count; got != c.End.Seq-c.Start.Seq {
			return nil, codes.Errorf(codes.AuditTampered, "the audit log of node %q holds %d of the %d events from %d to %d", n, got, c.End.Seq-c.Start.Seq, c.Start.Seq+1, c.End.Seq)
		}
		out = append(out, *c)
	}
	return out, nil
}

// VerifyOptions is what the vendor checks a signed report against.
type VerifyOptions struct {
	VendorKey ed25519.PublicKey
	// License, when set, is the license file the vendor issued: the
	// report must carry this one.
	License []byte
	// Previous, when set, is the signed report of the period before: this
	// one must continue its chains.
	Previous *Payload
}

// Verified is a signed report that verified.
type Verified struct {
	Payload
	License *license.License
	KeyID   string // the server key that signed it
}

// ReadSigned parses a signed report file, checks it and returns what it
// says. Each failure is a *codes.Error: codes.ReportMalformed,
// codes.ReportWrongServer, codes.ReportSignature, codes.ReportPeriodUncovered
// or codes.ReportChainGap.
func ReadSigned(data []byte, o VerifyOptions) (*Verified, error) {
	if len(data) > MaxSignedSize {
		return nil, codes.Errorf(codes.ReportMalformed, "the file is %d bytes, more than a signed report's %d", len(data), MaxSignedSize)
	}
	var f File
	if err := strictJSON(data, &f); err != nil {
		return nil, codes.Errorf(codes.ReportMalformed, "not a signed usage report: %v", err)
	}
	obj, err := jws.Parse(f.Signed)
	if err != nil {
		return nil, codes.Errorf(codes.ReportMalformed, "the signature is not a compact JWS: %v", err)
	}
	if obj.Header.Type != SignedType {
		return nil, codes.Errorf(codes.ReportMalformed, "the JWS is a %q, not a signed usage report", obj.Header.Type)
	}
	payload := []byte(obj.UnverifiedPayload())
	if !bytes.Equal(payload, f.Payload) {
		return nil, codes.Errorf(codes.ReportMalformed, "the readable copy of the report differs from the signed one: the file was edited")
	}
	var p Payload
	if err := strictJSON(payload, &p); err != nil || p.Type != SignedType || p.Report == nil {
		return nil, codes.Errorf(codes.ReportMalformed, "the signed payload is not a usage report: %v", err)
	}
	// The license: the vendor's key signed it, and it trusts the key that
	// signed the report.
	compact := p.License
	if o.License != nil {
		given, err := license.Parse(o.License)
		if err != nil {
			return nil, err
		}
		if given.Compact != p.License {
			return nil, codes.Errorf(codes.ReportWrongServer, "the report carries another license than the one given")
		}
		compact = given.Compact
	}
	signed, err := license.ParseCompact(compact)
	if err != nil {
		return nil, codes.Errorf(codes.ReportMalformed, "the license the report carries: %v", err)
	}
	lic, err := signed.Verify(o.VendorKey)
	if err != nil {
		return nil, codes.Errorf(codes.ReportWrongServer, "the license the report carries does not verify with the vendor key: %v", codes.As(err).Detail())
	}
	pub, ok := lic.NodeKey(obj.Header.KeyID)
	if !ok {
		return nil, codes.Errorf(codes.ReportWrongServer, "the report is signed by server key %s; license %s trusts %v", obj.Header.KeyID, lic.ID, lic.ServerKeyIDs())
	}
	if _, err := obj.Verify(pub); err != nil {
		return nil, codes.Errorf(codes.ReportSignature, "the report's signature does not verify with server key %s: %v", obj.Header.KeyID, err)
	}
	if err := checkPayload(&p, lic, o.Previous); err != nil {
		return nil, err
	}
	return &Verified{Payload: p, License: lic, KeyID: obj.Header.KeyID}, nil
}

// checkPayload checks what a signed payload says of itself.
func checkPayload(p *Payload, lic *license.License, prev *Payload) error {
	r := p.Report
	if r.LicenseID != lic.ID {
		return codes.Errorf(codes.ReportMalformed, "the report is about license %q, but carries license %s", r.LicenseID, lic.ID)
	}
	switch {
	case !r.From.Before(r.To):
		return codes.Errorf(codes.ReportMalformed, "the period %s to %s is empty", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	case p.LogStart.IsZero() || p.LogStart.After(r.From):
		return codes.Errorf(codes.ReportPeriodUncovered, "the audit log starts at %s, after the period's start %s", p.LogStart.Format(time.RFC3339), r.From.Format(time.RFC3339))
	case r.To.After(p.Signed):
		return codes.Errorf(codes.ReportPeriodUncovered, "the period ends at %s, after the report was signed (%s)", r.To.Format(time.RFC3339), p.Signed.Format(time.RFC3339))
	case len(p.Chains) == 0:
		return codes.Errorf(codes.ReportChainGap, "the report names no audit chain position")
	}
	for _, c := range p.Chains {
		if err := checkPosition(c.Start); err != nil {
			return err
		}
		if err := checkPosition(c.End); err != nil {
			return err
		}
		if c.End.Seq < c.Start.Seq || (c.End.Seq == c.Start.Seq && c.End.Hash != c.Start.Hash) {
			return codes.Errorf(codes.ReportChainGap, "the audit chain of node %q ends at event %d, before its start at event %d", c.Node, c.End.Seq, c.Start.Seq)
		}
	}
	if prev == nil {
		return nil
	}
	if !prev.Report.To.Equal(r.From) {
		return codes.Errorf(codes.ReportChainGap, "the previous report ends at %s, this one starts at %s", prev.Report.To.Format(time.RFC3339), r.From.Format(time.RFC3339))
	}
	for _, pc := range prev.Chains {
		for _, c := range p.Chains {
			if c.Node == pc.Node && c.Start != pc.End {
				return codes.Errorf(codes.ReportChainGap, "the audit chain of node %q starts at event %d (%.12s…), but the previous report ended it at event %d (%.12s…): the log was cut or rewritten between the two",
					c.Node, c.Start.Seq, c.Start.Hash, pc.End.Seq, pc.End.Hash)
			}
		}
	}
	return nil
}

func checkPosition(p Position) error {
	switch {
	case p.Seq < 0:
		return codes.Errorf(codes.ReportMalformed, "an audit chain position has sequence number %d", p.Seq)
	case p.Seq == 0 && p.Hash != "":
		return codes.Errorf(codes.ReportMalformed, "an audit chain position before the first event has a hash")
	case p.Seq > 0:
		if b, err := hex.DecodeString(p.Hash); err != nil || len(b) != 32 {
			return codes.Errorf(codes.ReportMalformed, "the audit chain position at event %d has hash %q, not 64 hex digits", p.Seq, p.Hash)
		}
	}
	return nil
}

// strictJSON decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}
