package doctor

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// MaxTokenSize bounds the token ExplainToken reads. Real JWTs are a few
// hundred bytes; a header is the usual place to carry them, and HTTP
// servers refuse headers far smaller than this.
const MaxTokenSize = 64 << 10

// MaxJWKSSize bounds the key set ParseJWKS reads.
const MaxJWKSSize = 1 << 20

// DefaultSkew is the clock difference ExplainToken tolerates unless told
// otherwise; the SDK tolerates the same.
const DefaultSkew = 60 * time.Second

// TokenOptions is what ExplainToken checks a token against.
type TokenOptions struct {
	// Keys are the verification keys (a JWKS's keys). Without keys the
	// signature is not checked (Skip).
	Keys []jose.JSONWebKey
	// Issuer is the expected iss; "" does not check it (Skip).
	Issuer string
	// Audience is the expected aud, which the token's aud must be or, as
	// an array, contain; "" does not check it (Skip).
	Audience string
	// Algs are the allowed algorithms; nil allows EdDSA, the algorithm
	// licensor signs with. "none" is never allowed.
	Algs []string
	// Now is the time to check exp, nbf and iat against; zero is the
	// current time.
	Now time.Time
	// Skew is the tolerated clock difference: 0 is DefaultSkew, a
	// negative value tolerates none.
	Skew time.Duration
}

// TokenReport is what ExplainToken found.
type TokenReport struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
	Steps  []Result       `json:"steps"`
	Valid  bool           `json:"valid"` // no step failed
}

// tokenSteps are the step names, in the order ExplainToken reports them.
var tokenSteps = []string{"format", "alg", "kid", "signature", "exp", "nbf", "iat", "iss", "aud"}

// ExplainToken checks a compact JWT step by step — format, algorithm, key,
// signature, time claims, issuer, audience — and says what each step found.
// It does not stop at the first failure: the claims are read (and
// reported, failed or not) even when the signature does not verify, since
// a person fixing a token wants to see all that is wrong with it. Only a
// token that cannot be decoded at all skips the later steps.
//
// Valid means no step failed. A token checked without keys can be Valid
// with its signature unchecked (Skip); a caller that needs proof of origin
// must give the keys.
func ExplainToken(token string, opts TokenOptions) *TokenReport {
	t := &tokenCheck{opts: opts, token: strings.TrimSpace(token)}
	t.defaults()
	rep := &TokenReport{}
	format := t.format()
	rep.Steps = append(rep.Steps, format)
	if format.Status == Fail {
		for _, name := range tokenSteps[1:] {
			rep.Steps = append(rep.Steps, Result{Name: name, Status: Skip, Found: "not checked: the token does not decode"})
		}
		return rep
	}
	rep.Header, rep.Claims = t.header, t.claims
	alg := t.alg()
	kid := t.kid()
	rep.Steps = append(rep.Steps, alg, kid, t.signature(alg.Status == Fail, kid.Status == Fail),
		t.exp(), t.nbf(), t.iat(), t.iss(), t.aud())
	rep.Valid = true
	for _, s := range rep.Steps {
		if s.Status == Fail {
			rep.Valid = false
		}
	}
	return rep
}

// tokenCheck carries a token through the steps.
type tokenCheck struct {
	opts   TokenOptions
	token  string
	header map[string]any
	claims map[string]any
	algo   string            // the header's alg
	kidSet bool              // the header names a kid
	kidVal string            // the header's kid
	cands  []jose.JSONWebKey // keys the kid step chose for the signature step
}

func (t *tokenCheck) defaults() {
	if len(t.opts.Algs) == 0 {
		t.opts.Algs = []string{string(jose.EdDSA)}
	}
	if t.opts.Now.IsZero() {
		t.opts.Now = time.Now()
	}
	switch {
	case t.opts.Skew == 0:
		t.opts.Skew = DefaultSkew
	case t.opts.Skew < 0:
		t.opts.Skew = 0
	}
}

// failed makes a failed step; fix "" takes the table's fix for c.
func failed(name string, c codes.Code, found, fix string, details ...string) Result {
	if fix == "" {
		in, _ := c.Info()
		fix = in.Fix
	}
	return Result{Name: name, Status: Fail, Code: int(c), Found: found, Details: details, Fix: fix}
}

func passed(name, found string, details ...string) Result {
	return Result{Name: name, Status: Pass, Found: found, Details: details}
}

func skipped(name, found string) Result { return Result{Name: name, Status: Skip, Found: found} }

// format checks that the token is three base64url parts whose first two
// are JSON objects.
func (t *tokenCheck) format() Result {
	const name = "format"
	bad := func(found, fix string, details ...string) Result {
		return failed(name, codes.TokenMalformed, found, fix, details...)
	}
	tok := t.token
	switch {
	case tok == "":
		return bad("the token is empty", "")
	case len(tok) > MaxTokenSize:
		return bad(fmt.Sprintf("the token is %d bytes, more than the %d a JWT can reasonably be", len(tok), MaxTokenSize), "")
	}
	if f := strings.Fields(tok); len(f) == 2 && strings.EqualFold(f[0], "Bearer") {
		return bad("the token starts with \"Bearer \": that is the HTTP Authorization header's scheme, not part of the token",
			"Pass only the token after \"Bearer \".")
	}
	parts := strings.Split(tok, ".")
	switch {
	case len(parts) == 5:
		return bad("the token has 5 parts separated by dots: it is an encrypted token (JWE), not a signed one (JWS)",
			"Decrypt the token with its recipient's key first, or pass the signed token (header.claims.signature).")
	case len(parts) != 3:
		return bad(fmt.Sprintf("the token has %d part(s) separated by dots, want 3 (header.claims.signature)", len(parts)), "")
	}
	what := [3]string{"header (part 1)", "claims (part 2)", "signature (part 3)"}
	var raw [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return bad(fmt.Sprintf("the %s is not base64url: %s", what[i], base64Trouble(p, err)), "")
		}
		raw[i] = b
	}
	var err error
	if t.header, err = jsonObject(raw[0]); err != nil {
		return bad(fmt.Sprintf("the %s is not a JSON object: %v", what[0], err), "", "decoded: "+clip(string(raw[0]), 120))
	}
	if t.claims, err = jsonObject(raw[1]); err != nil {
		return bad(fmt.Sprintf("the %s are not a JSON object: %v", what[1], err), "", "decoded: "+clip(string(raw[1]), 120))
	}
	if a, ok := t.header["alg"]; ok {
		s, ok := a.(string)
		if !ok {
			return bad(fmt.Sprintf("the header's alg is %s, not a string", clipJSON(a)), "")
		}
		t.algo = s
	}
	if k, ok := t.header["kid"]; ok {
		s, ok := k.(string)
		if !ok {
			return bad(fmt.Sprintf("the header's kid is %s, not a string", clipJSON(k)), "")
		}
		t.kidSet, t.kidVal = true, s
	}
	return passed(name, fmt.Sprintf("three base64url parts; header and claims are JSON objects; signature %d bytes", len(raw[2])))
}

// base64Trouble says why a part does not decode, naming the usual
// mix-ups. The shape comes first: a part of a length no base64url text
// has (a character lost or added) is said to be so, not blamed on the
// character where the decoder gave up.
func base64Trouble(p string, err error) string {
	switch {
	case strings.Contains(p, "="):
		return "it has \"=\" padding, which JWS base64url leaves out"
	case strings.ContainsAny(p, "+/"):
		return "it has \"+\" or \"/\": standard base64, not the URL-safe alphabet (\"-\" and \"_\")"
	}
	if i := strings.IndexFunc(p, func(r rune) bool { return !isBase64URL(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(p[i:])
		return fmt.Sprintf("illegal character %q at offset %d", r, i)
	}
	if len(p)%4 == 1 {
		return fmt.Sprintf("it is %d characters long, a length no base64url text has (one more or one fewer would be): a character was lost or added, most often when the token was cut or copied", len(p))
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) && len(p) > 0 {
		// Every character is of the alphabet and the length is one an
		// encoding can have: the last character carries bits that no
		// encoder sets.
		return fmt.Sprintf("its last character %q does not end a base64url text (it sets bits an encoder leaves zero): the part was cut or edited", p[len(p)-1])
	}
	return err.Error()
}

func isBase64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// jsonObject decodes one JSON object, numbers kept exact, nothing after it.
func jsonObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a JSON %s, not an object", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "value"
}

func isHMAC(alg string) bool { return alg == "HS256" || alg == "HS384" || alg == "HS512" }

// alg checks the header's algorithm against the allowed ones.
func (t *tokenCheck) alg() Result {
	const name = "alg"
	allowed := strings.Join(t.opts.Algs, ", ")
	switch {
	case t.algo == "":
		return failed(name, codes.TokenAlgorithm, "the header has no alg", "")
	case strings.EqualFold(t.algo, "none"):
		return failed(name, codes.TokenAlgorithm,
			fmt.Sprintf("alg is %q: the token is unsigned, and an unsigned token proves nothing — anyone can write one", t.algo), "",
			"a verifier must never accept alg none, whatever its allowed list says",
			"allowed: "+allowed)
	case isHMAC(t.algo) && (t.publicKeys() || !slices.Contains(t.opts.Algs, t.algo)):
		return failed(name, codes.TokenAlgorithm,
			fmt.Sprintf("alg is %s, an HMAC (shared-secret) algorithm, where the issuer signs with a public-key algorithm (%s)", t.algo, allowed), "",
			"this is the key-confusion attack: a verifier that used the issuer's public key as the HMAC secret would accept a token anyone can make, since the public key is public",
			"the token is forged, or comes from another issuer")
	case !slices.Contains(t.opts.Algs, t.algo):
		return failed(name, codes.TokenAlgorithm, fmt.Sprintf("alg is %s, not an allowed algorithm (%s)", clipJSON(t.algo), allowed), "")
	}
	return passed(name, fmt.Sprintf("alg %s is allowed", t.algo))
}

// publicKeys reports whether any verification key is a public key, which an
// HMAC token must never be checked with.
func (t *tokenCheck) publicKeys() bool {
	for _, k := range t.opts.Keys {
		if _, secret := k.Key.([]byte); !secret {
			return true
		}
	}
	return false
}

// kid chooses the keys the signature step tries.
func (t *tokenCheck) kid() Result {
	const name = "kid"
	ks := t.opts.Keys
	switch {
	case len(ks) == 0:
		return skipped(name, "not checked: no keys given")
	case t.kidSet:
		for _, k := range ks {
			if k.KeyID == t.kidVal {
				t.cands = append(t.cands, k)
			}
		}
		if len(t.cands) == 0 {
			return failed(name, codes.TokenKeyUnknown,
				fmt.Sprintf("kid %s is not in the key set", clipJSON(t.kidVal)), "",
				"the key set holds: "+kidList(ks))
		}
		return passed(name, fmt.Sprintf("kid %s is in the key set (%s)", t.kidVal, keyKind(t.cands[0])))
	case len(ks) == 1:
		t.cands = ks
		return passed(name, fmt.Sprintf("no kid in the header; the key set's only key (%s) is used", describeKey(ks[0])))
	default:
		t.cands = ks
		return passed(name, fmt.Sprintf("no kid in the header; each of the %d keys is tried", len(ks)))
	}
}

func kidList(ks []jose.JSONWebKey) string {
	var ids []string
	for _, k := range ks {
		ids = append(ids, describeKey(k))
	}
	return strings.Join(ids, ", ")
}

func describeKey(k jose.JSONWebKey) string {
	if k.KeyID == "" {
		return "a " + keyKind(k) + " key without kid"
	}
	return "kid " + k.KeyID
}

// keyKind names a key's type: "OKP Ed25519", "EC P-256", "RSA 2048".
func keyKind(k jose.JSONWebKey) string {
	switch key := k.Key.(type) {
	case ed25519.PublicKey:
		return "OKP Ed25519"
	case *ecdsa.PublicKey:
		return "EC " + key.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", key.N.BitLen())
	case []byte:
		return "oct (shared secret)"
	}
	return fmt.Sprintf("%T", k.Key)
}

// keyFits says why key cannot check alg, or "" when it can.
func keyFits(alg string, k jose.JSONWebKey) string {
	if k.Algorithm != "" && k.Algorithm != alg {
		return fmt.Sprintf("the key set publishes %s for %s only", describeKey(k), k.Algorithm)
	}
	var ok bool
	switch key := k.Key.(type) {
	case ed25519.PublicKey:
		ok = alg == string(jose.EdDSA)
	case *rsa.PublicKey:
		ok = strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		ok = want != nil && key.Curve == want
	case []byte:
		ok = isHMAC(alg)
	}
	if !ok {
		return fmt.Sprintf("%s is an %s key, which cannot check alg %s", describeKey(k), keyKind(k), alg)
	}
	return ""
}

// signature verifies the token with the keys the kid step chose.
func (t *tokenCheck) signature(algFailed, kidFailed bool) Result {
	const name = "signature"
	switch {
	case len(t.opts.Keys) == 0:
		return skipped(name, "not checked: no keys given, so nothing shows who made this token")
	case algFailed:
		return skipped(name, "not checked: the alg is refused")
	case kidFailed:
		return skipped(name, "not checked: no key with the token's kid")
	}
	sig, err := jose.ParseSignedCompact(t.token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(t.algo)})
	if err != nil {
		return failed(name, codes.TokenMalformed, "the JWS does not parse: "+strings.TrimPrefix(err.Error(), "go-jose/go-jose: "), "")
	}
	var why []string
	for _, k := range t.cands {
		if reason := keyFits(t.algo, k); reason != "" {
			why = append(why, reason)
			continue
		}
		if _, err := sig.Verify(verificationKey(k)); err == nil {
			return passed(name, fmt.Sprintf("signed by %s (%s, %s)", describeKey(k), keyKind(k), t.algo))
		}
		why = append(why, describeKey(k)+": the signature does not verify")
	}
	found := "the signature does not verify with " + describeKey(t.cands[0])
	if len(t.cands) > 1 {
		found = fmt.Sprintf("the signature verifies with none of the %d keys tried", len(t.cands))
	}
	return failed(name, codes.TokenBadSignature, found, "", append(why,
		"the token was altered after signing, or signed by another key (one with the same kid is still another key)")...)
}

// verificationKey routes Ed25519 through keys.Verify, the one signature
// check licensor makes; other keys go to go-jose.
func verificationKey(k jose.JSONWebKey) any {
	if pub, ok := k.Key.(ed25519.PublicKey); ok {
		return ed25519Verifier(pub)
	}
	return k.Key
}

type ed25519Verifier ed25519.PublicKey

func (v ed25519Verifier) VerifyPayload(payload, signature []byte, alg jose.SignatureAlgorithm) error {
	if alg != jose.EdDSA || !keys.Verify(ed25519.PublicKey(v), payload, signature) {
		return errors.New("signature does not verify")
	}
	return nil
}

// numericDate reads a time claim: ok is false when it is absent; err is set
// when it is not a NumericDate.
func (t *tokenCheck) numericDate(claim string) (when time.Time, ok bool, err error) {
	v, present := t.claims[claim]
	if !present {
		return time.Time{}, false, nil
	}
	return NumericDate(v)
}

// NumericDate converts a decoded JSON value (json.Number or float64) to a
// time, as JWT's exp, nbf and iat are written (seconds since 1970, RFC
// 7519 §2). ok is true when v is a number in the years 0001–9999.
func NumericDate(v any) (time.Time, bool, error) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return time.Time{}, true, fmt.Errorf("%s is out of range", n)
		}
	case float64:
		f = n
	default:
		return time.Time{}, true, fmt.Errorf("%s is not a number of seconds since 1970", clipJSON(v))
	}
	const minDate, maxDate = -62135596800, 253402300799 // 0001-01-01, 9999-12-31
	if math.IsNaN(f) || f < minDate || f > maxDate {
		return time.Time{}, true, fmt.Errorf("%s is out of range", clipJSON(v))
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), true, nil
}

func stamp(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }

func (t *tokenCheck) clockDetail() string {
	return fmt.Sprintf("now %s by this host's clock; %s of skew allowed", stamp(t.opts.Now), license.DaysLeft(t.opts.Skew))
}

func (t *tokenCheck) exp() Result {
	const name = "exp"
	exp, ok, err := t.numericDate(name)
	switch {
	case err != nil:
		return failed(name, codes.TokenMalformed, "exp "+err.Error(), "Issue the token with exp as a number of seconds since 1970.")
	case !ok:
		return Result{Name: name, Status: Warn, Found: "the token has no exp: it never expires, so a stolen copy works forever",
			Fix: "Issue tokens with an exp; licensor's own expire within minutes."}
	}
	now := t.opts.Now
	switch {
	case !now.Before(exp.Add(t.opts.Skew)):
		return failed(name, codes.TokenExpired, fmt.Sprintf("expired at %s, %s ago", stamp(exp), license.DaysLeft(now.Sub(exp))), "", t.clockDetail())
	case !now.Before(exp):
		return passed(name, fmt.Sprintf("expired at %s, %s ago, within the %s of skew allowed", stamp(exp), license.DaysLeft(now.Sub(exp)), license.DaysLeft(t.opts.Skew)))
	}
	return passed(name, fmt.Sprintf("expires %s, in %s", stamp(exp), license.DaysLeft(exp.Sub(now))))
}

func (t *tokenCheck) nbf() Result {
	const name = "nbf"
	nbf, ok, err := t.numericDate(name)
	switch {
	case err != nil:
		return failed(name, codes.TokenMalformed, "nbf "+err.Error(), "Issue the token with nbf as a number of seconds since 1970.")
	case !ok:
		return skipped(name, "no nbf claim: valid from issue")
	}
	now := t.opts.Now
	if nbf.After(now.Add(t.opts.Skew)) {
		return failed(name, codes.TokenNotYetValid, fmt.Sprintf("not valid before %s, in %s", stamp(nbf), license.DaysLeft(nbf.Sub(now))), "", t.clockDetail())
	}
	if nbf.After(now) {
		return passed(name, fmt.Sprintf("valid from %s, in %s, within the %s of skew allowed", stamp(nbf), license.DaysLeft(nbf.Sub(now)), license.DaysLeft(t.opts.Skew)))
	}
	return passed(name, fmt.Sprintf("valid since %s, %s ago", stamp(nbf), license.DaysLeft(now.Sub(nbf))))
}

func (t *tokenCheck) iat() Result {
	const name = "iat"
	iat, ok, err := t.numericDate(name)
	switch {
	case err != nil:
		return failed(name, codes.TokenMalformed, "iat "+err.Error(), "Issue the token with iat as a number of seconds since 1970.")
	case !ok:
		return skipped(name, "no iat claim")
	}
	now := t.opts.Now
	if iat.After(now.Add(t.opts.Skew)) {
		return failed(name, codes.TokenNotYetValid,
			fmt.Sprintf("issued at %s, %s in the future: clock skew?", stamp(iat), license.DaysLeft(iat.Sub(now))),
			"Synchronize the issuer's clock and this host's with NTP: a token issued in the future means one of them is wrong ('licensor explain clock_skew').",
			t.clockDetail())
	}
	if iat.After(now) {
		return passed(name, fmt.Sprintf("issued at %s, %s in the future, within the %s of skew allowed", stamp(iat), license.DaysLeft(iat.Sub(now)), license.DaysLeft(t.opts.Skew)))
	}
	return passed(name, fmt.Sprintf("issued at %s, %s ago", stamp(iat), license.DaysLeft(now.Sub(iat))))
}

func (t *tokenCheck) iss() Result {
	const name = "iss"
	v, present := t.claims["iss"]
	s, isString := v.(string)
	want := t.opts.Issuer
	switch {
	case want == "" && present:
		return skipped(name, fmt.Sprintf("not checked (no expected issuer given); the token says %s", clipJSON(v)))
	case want == "":
		return skipped(name, "not checked (no expected issuer given); the token has no iss")
	case !present:
		return failed(name, codes.TokenWrongIssuer, fmt.Sprintf("the token has no iss; expected %q", want), "")
	case !isString:
		return failed(name, codes.TokenWrongIssuer, fmt.Sprintf("iss is %s, not a string; expected %q", clipJSON(v), want), "")
	case s != want:
		return failed(name, codes.TokenWrongIssuer, fmt.Sprintf("iss is %s, expected %q", clipJSON(s), want), "")
	}
	return passed(name, fmt.Sprintf("iss is %q, as expected", want))
}

func (t *tokenCheck) aud() Result {
	const name = "aud"
	v, present := t.claims["aud"]
	want := t.opts.Audience
	switch {
	case want == "" && present:
		return skipped(name, fmt.Sprintf("not checked (no expected audience given); the token says %s", clipJSON(v)))
	case want == "":
		return skipped(name, "not checked (no expected audience given); the token has no aud")
	case !present:
		return failed(name, codes.TokenWrongAudience, fmt.Sprintf("the token has no aud; expected %q", want), "")
	}
	switch a := v.(type) {
	case string:
		if a == want {
			return passed(name, fmt.Sprintf("aud is %q, as expected", want))
		}
	case []any:
		for _, e := range a {
			if e == want {
				return passed(name, fmt.Sprintf("aud %s includes %q", clipJSON(v), want))
			}
		}
	default:
		return failed(name, codes.TokenWrongAudience, fmt.Sprintf("aud is %s, neither a string nor an array of strings; expected %q", clipJSON(v), want), "")
	}
	return failed(name, codes.TokenWrongAudience, fmt.Sprintf("aud is %s, expected %q", clipJSON(v), want), "")
}

// clip shortens s to n bytes for a one-line message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// clipJSON shows a token-supplied value as JSON, which escapes control
// characters, so that a hostile token cannot write to the terminal.
func clipJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	return clip(string(b), 120)
}

// ParseJWKS decodes a JSON Web Key Set ({"keys": [...]}) or a single JWK.
// Private keys are reduced to their public halves: verification needs no
// more. Failures are codes.TokenMalformed.
func ParseJWKS(data []byte) ([]jose.JSONWebKey, error) {
	if len(data) > MaxJWKSSize {
		return nil, codes.Errorf(codes.TokenMalformed, "the key set is %d bytes, more than %d", len(data), MaxJWKSSize)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
		Kty  *string           `json:"kty"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, codes.Errorf(codes.TokenMalformed, "the key set is not a JSON object: %v", strings.TrimPrefix(err.Error(), "json: ")).
			WithFix("Give the issuer's JWKS as JSON, {\"keys\": [...]}; a licensor site server publishes its own at /.well-known/jwks.json.")
	}
	raws := set.Keys
	switch {
	case raws == nil && set.Kty != nil:
		raws = []json.RawMessage{data} // a single JWK
	case len(raws) == 0:
		return nil, codes.Errorf(codes.TokenMalformed, "the key set holds no keys").
			WithFix("Give the issuer's JWKS, {\"keys\": [...]}, with at least one key.")
	}
	out := make([]jose.JSONWebKey, 0, len(raws))
	for i, raw := range raws {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			return nil, codes.Errorf(codes.TokenMalformed, "key %d of the key set: %s", i+1, strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))
		}
		if !k.Valid() {
			return nil, codes.Errorf(codes.TokenMalformed, "key %d of the key set is not a valid key", i+1)
		}
		if _, secret := k.Key.([]byte); !secret && !k.IsPublic() {
			k = k.Public()
		}
		out = append(out, k)
	}
	return out, nil
}

// SortedKeys returns m's keys in order, for printing a header or claims.
func SortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
