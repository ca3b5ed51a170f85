package license

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/block"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/jws"
	"github.com/licensor/licensor/keys"
)

// JWSType is the "typ" header of a license JWS.
const JWSType = "licensor-license"

// MaxFileSize bounds what is read from a license file.
const MaxFileSize = 256 << 10

const (
	beginArmor = "-----BEGIN LICENSOR LICENSE-----"
	endArmor   = "-----END LICENSOR LICENSE-----"
	lineWidth  = 64
)

// Sign fills in the fields the issuer owns (info, version, id when empty),
// validates l and returns the license file, signed by the vendor key.
func Sign(l *License, vendor ed25519.PrivateKey) ([]byte, error) {
	l.Info, l.Version, l.FingerType = "license", Version, FingerTypeMachine
	if l.ID == "" {
		l.ID = NewID()
	}
	l.Issued = l.Issued.UTC().Truncate(time.Second)
	for i := range l.Products {
		p := &l.Products[i]
		p.NotBefore, p.NotAfter = p.NotBefore.UTC().Truncate(time.Second), p.NotAfter.UTC().Truncate(time.Second)
		if p.Functions == nil {
			p.Functions = []string{}
		}
	}
	if err := l.Validate(); err != nil {
		e := codes.As(err)
		return nil, codes.Errorf(codes.InvalidArgument, "%s", e.Msg)
	}
	payload, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	pub := vendor.Public().(ed25519.PublicKey)
	compact, err := jws.Sign(vendor, payload, keys.ID(pub), JWSType)
	if err != nil {
		return nil, err
	}
	return armor(l, compact), nil
}

// NewID returns a random license id.
func NewID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "lic_" + hex.EncodeToString(b[:])
}

func armor(l *License, compact string) []byte {
	var b bytes.Buffer
	b.WriteString("licensor license (the lines above BEGIN are for reading; only the signed block counts)\n")
	fmt.Fprintf(&b, "  id:       %s\n", l.ID)
	fmt.Fprintf(&b, "  holder:   %s\n", l.Holder)
	fmt.Fprintf(&b, "  issuer:   %s\n", l.Issuer)
	fmt.Fprintf(&b, "  issued:   %s UTC\n", FormatTime(l.Issued))
	for _, m := range l.Machines {
		fmt.Fprintf(&b, "  machine:  %s\n", m.Code)
	}
	for i, n := range l.Cluster {
		name := []rune(n.Name)
		if len(name) > 32 { // the lines stay short enough to email
			name = append(name[:31], '…')
		}
		if len(name) == 0 {
			name = []rune(fmt.Sprintf("#%d", i+1))
		}
		fmt.Fprintf(&b, "  node:     %s on machine %s\n            server key %s\n", string(name), n.Code, n.KeyID())
	}
	if l.Token != nil {
		fmt.Fprintf(&b, "  binding:  %s\n  token:    %s key %s\n", l.Binding(), l.Token.Alg, l.Token.Thumbprint)
		if l.Token.Serial != "" {
			fmt.Fprintf(&b, "            serial %s\n", l.Token.Serial)
		}
	}
	for _, p := range l.Products {
		fmt.Fprintf(&b, "  product:  %s instances=%d qps=%d %s .. %s UTC\n", p.Subject, p.InstanceSize, p.QPS, FormatTime(p.NotBefore), FormatTime(p.NotAfter))
	}
	b.WriteString(beginArmor + "\n")
	for s := compact; len(s) > 0; {
		n := min(lineWidth, len(s))
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(endArmor + "\n")
	return b.Bytes()
}

// Signed is a license file parsed but not yet verified.
type Signed struct {
	// Compact is the JWS, the part of the file that counts.
	Compact string
	// KeyID names the vendor key that signed it, as the header claims.
	KeyID string
	obj   *jws.Object
}

// Parse decodes a license file: the armored form licensor writes, or a
// bare compact JWS. Failures are codes.LicenseMalformed (or
// codes.LicenseTampered for a header that asks for another algorithm).
func Parse(data []byte) (*Signed, error) {
	if len(data) > MaxFileSize {
		return nil, codes.Errorf(codes.LicenseMalformed, "the file is %d bytes, more than a license can be (%d)", len(data), MaxFileSize)
	}
	compact, err := dearmor(data)
	if err != nil {
		return nil, err
	}
	return ParseCompact(compact)
}

// ParseCompact decodes a license given as its bare compact JWS, as key files
// carry it. Failures are those of Parse.
func ParseCompact(compact string) (*Signed, error) {
	obj, err := jws.Parse(compact)
	switch {
	case errors.Is(err, jws.ErrAlgorithm):
		return nil, codes.Errorf(codes.LicenseTampered, "the license header was altered: %v", err)
	case err != nil:
		return nil, codes.Errorf(codes.LicenseMalformed, "not a signed license: %v", err)
	}
	if obj.Header.Type != JWSType {
		return nil, codes.Errorf(codes.LicenseMalformed, "the signed block is a %q, not a licensor license", obj.Header.Type)
	}
	if kid := obj.Header.KeyID; kid != "" && !isKeyID(kid) {
		// No licensor key has such an id: the header was altered, and
		// it names no key another vendor could have signed with.
		return nil, codes.Errorf(codes.LicenseMalformed, "the license header's kid %s is not a key id (an id is 43 base64url characters): the header was altered after signing, or the file is not a licensor license", quoteShort(kid))
	}
	return &Signed{Compact: compact, KeyID: obj.Header.KeyID, obj: obj}, nil
}

// isKeyID reports whether s has the shape of a key id (keys.ID): a
// SHA-256 thumbprint in base64url without padding.
func isKeyID(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size && len(s) == base64.RawURLEncoding.EncodedLen(sha256.Size)
}

// idDiffers counts the characters in which two key ids of the same
// length differ; -1 when their lengths differ.
func idDiffers(a, b string) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range len(a) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// quoteShort quotes s for a message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}

func dearmor(data []byte) (string, error) {
	compact, fault := block.Unwrap(data, beginArmor, endArmor)
	if fault != block.OK {
		return "", codes.Errorf(codes.LicenseMalformed, "%s", fault.Describe("license", beginArmor, endArmor))
	}
	return compact, nil
}

// Verify checks the signature with the vendor's public key and decodes the
// license: codes.WrongVendorKey when another vendor key signed it,
// codes.LicenseTampered when the signature does not verify.
func (s *Signed) Verify(vendor ed25519.PublicKey) (*License, error) {
	want := keys.ID(vendor)
	if s.KeyID != want {
		if n := idDiffers(s.KeyID, want); n > 0 && n <= 4 {
			// A kid a letter or two off the configured key's, whose
			// signature does not verify: the header was edited, not
			// signed by another key.
			if _, err := s.obj.Verify(vendor); err != nil {
				return nil, codes.Errorf(codes.LicenseTampered, "the license header names vendor key %s, %d characters off the configured vendor key %s, and the signature does not verify: the header was altered after signing", s.KeyID, n, want)
			}
		}
		return nil, codes.Errorf(codes.WrongVendorKey, "the license was signed by vendor key %s; the configured vendor key is %s", orNone(s.KeyID), want)
	}
	payload, err := s.obj.Verify(vendor)
	if err != nil {
		return nil, codes.Errorf(codes.LicenseTampered, "the signature by vendor key %s does not verify: the license was altered after signing", want)
	}
	return decode(payload)
}

// Unverified decodes the license without checking its signature, for
// showing a license when the vendor key is not at hand. Never trust it.
func (s *Signed) Unverified() (*License, error) {
	return decode(s.obj.UnverifiedPayload())
}

func decode(payload string) (*License, error) {
	l, err := decodeJSON(payload)
	if err != nil {
		return nil, codes.Errorf(codes.LicenseMalformed, "the signed license does not decode: %v", err)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none named)"
	}
	return s
}

// ReadFile reads a license file: codes.FileMissing when it is absent or
// unreadable.
func ReadFile(path string) ([]byte, error) {
	data, err := readfile.Limited(path, MaxFileSize, "license file")
	if codes.Of(err) == codes.FileMissing {
		return nil, codes.As(err).WithFix("Install the license file the vendor sent, or give its right path.")
	}
	return data, err
}

// Load reads, parses and verifies a license file.
func Load(path string, vendor ed25519.PublicKey) (*License, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return s.Verify(vendor)
}
