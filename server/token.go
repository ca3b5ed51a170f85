package server

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/token"
)

// tokenGuard proves, for a license that binds a hardware token, that the
// token is present: at start, at every token_check_interval and at a
// reload, it has the token sign a fresh random challenge and verifies the
// signature against the key the license binds (token.Prove). The checks
// run on their own goroutine, never on the request path: a request reads
// one atomic pointer (refusal, in checkClock). The reaper goes on while
// grants are refused: leases lapse as usual.
//
// While proofs fail the server keeps granting for token_grace after the
// last good proof, then refuses every grant, renewal and key file with
// codes.HWTokenMissing (codes.HWTokenWrong when the token present holds
// another key) until a proof succeeds again.
type tokenGuard struct {
	s   *Server
	mod *token.Module
	// refusedPIN is the PIN the token last refused: a check does not try
	// it again, since each wrong PIN brings a token nearer to locked. The
	// PIN is read anew at each check, so a corrected PIN file is taken
	// up. Both are used under check (or before the guard is in place).
	refusedPIN []byte

	check sync.Mutex // serialises checks

	mu      sync.Mutex // guards what follows; never held across a PKCS#11 call
	lastOK  time.Time  // the last good proof, by the server's clock
	serial  string     // the serial of the token that last proved itself
	failing *codes.Error
	since   time.Time // when proofs started failing
	state   tokenState
}

// tokenState is what the guard last said, so that each change is logged
// and audited once.
type tokenState int

const (
	tokenPresent  tokenState = iota
	tokenAbsent              // proofs fail, within the grace
	tokenRefusing            // past the grace: grants refused
)

// tokenStatus is the guard's state for /readyz, /security/license and
// the metrics.
type tokenStatus struct {
	Present   bool      `json:"present"`
	Count     int       `json:"dogCount"` // tokens holding the license's key at the last check
	Serial    string    `json:"serial,omitempty"`
	LastProof time.Time `json:"last_proof,omitzero"`
	Code      int       `json:"code,omitempty"`
	Name      string    `json:"name,omitempty"`
	Message   string    `json:"message,omitempty"`
	RefuseAt  time.Time `json:"refuse_at,omitzero"` // while absent, within the grace
	Refusing  bool      `json:"refusing,omitempty"`
}

// openToken opens the token module when the configuration names one or
// the license binds a token, and makes the first proof: a server whose
// license binds a token does not start without it.
func (s *Server) openToken(ctx context.Context, l *license.License) error {
	if !l.BindsToken() && s.cfg.TokenModule == "" {
		return nil
	}
	if s.cfg.TokenModule == "" {
		return codes.Errorf(codes.ConfigInvalid, "token_module: the license %s binds a hardware token (%s), and the configuration names no PKCS#11 module", l.ID, l.Token.Describe()).
			WithFix("Set token_module to the token's PKCS#11 library (for example /usr/lib/softhsm/libsofthsm2.so) and its PIN in token_pin_file or LICENSOR_TOKEN_PIN; 'licensor token list --module M' lists what a module sees.")
	}
	if _, err := token.ReadPIN(s.cfg.TokenPINFile); err != nil {
		return err // before the module is loaded; each proof reads it again
	}
	mod, err := token.Open(ctx, s.cfg.TokenModule, time.Duration(s.cfg.TokenTimeout))
	if err != nil {
		return err
	}
	g := &tokenGuard{s: s, mod: mod}
	if l.BindsToken() {
		p, err := g.prove(ctx, l)
		if err != nil {
			mod.Close()
			return err
		}
		g.lastOK, g.serial = s.clock.Now(), p.Token.Serial
		s.tokenCount.Store(int64(g.present(ctx, l)))
	}
	s.token = g
	return nil
}

// selector picks the token and key l binds: by the key's thumbprint and
// the serial, as 'licensor token check' and the doctor do; the key's
// label binds nothing, so a key relabelled on the token still proves.
func tokenSelector(l *license.License) token.Selector {
	return token.Selector{Serial: l.Token.Serial, Thumbprint: l.Token.Thumbprint}
}

// present counts the tokens plugged in that hold l's key (and serial),
// for dogCount: at least the one that has just proved it.
func (g *tokenGuard) present(ctx context.Context, l *license.License) int {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(g.s.cfg.TokenTimeout))
	defer cancel()
	ts, err := g.mod.Tokens(ctx)
	if err != nil {
		return 1
	}
	n := 0
	for _, t := range ts {
		if !t.Present || l.Token.Serial != "" && t.Serial != l.Token.Serial {
			continue
		}
		for _, k := range t.Keys {
			if k.Thumbprint == l.Token.Thumbprint {
				n++
				break
			}
		}
	}
	return max(n, 1)
}

// prove runs one presence proof for l, bounded by token_timeout.
func (g *tokenGuard) prove(ctx context.Context, l *license.License) (token.Proof, error) {
	pin, err := token.ReadPIN(g.s.cfg.TokenPINFile)
	if err != nil {
		return token.Proof{}, err
	}
	if g.refusedPIN != nil && bytes.Equal(pin, g.refusedPIN) {
		return token.Proof{}, codes.Errorf(codes.HWPINIncorrect, "the token refused this PIN at an earlier check, so licensor does not try it again: each wrong PIN brings a token nearer to locked").
			WithFix("Write the token's user PIN in token_pin_file (LICENSOR_TOKEN_PIN is read at start only): the next check reads it.")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(g.s.cfg.TokenTimeout))
	defer cancel()
	p, err := g.mod.Prove(ctx, tokenSelector(l), pin, l.Token.Thumbprint)
	switch codes.Of(err) {
	case codes.OK:
		g.refusedPIN = nil
	case codes.HWPINIncorrect:
		g.refusedPIN = pin
	}
	if err == nil && l.Token.Serial != "" && p.Token.Serial != l.Token.Serial {
		err = codes.Errorf(codes.HWTokenWrong, "the token in slot %d has serial %s; the license binds serial %s", p.Token.Slot, p.Token.Serial, l.Token.Serial)
	}
	return p, err
}

// reloadToken proves the token a reloaded license binds before it
// replaces the license in force: a reload never puts a token binding in
// force without its token. Reload calls it holding the guard's check.
func (s *Server) reloadToken(ctx context.Context, l *license.License) error {
	if !l.BindsToken() {
		return nil
	}
	g := s.token
	if g == nil {
		return codes.Errorf(codes.ConfigInvalid, "token_module: the license %s binds a hardware token (%s), and this server was started without a PKCS#11 module", l.ID, l.Token.Describe()).
			WithFix("Set token_module (and token_pin_file) in the configuration and restart the server; the license in force stays until then.")
	}
	p, err := g.prove(ctx, l)
	if err != nil {
		return err
	}
	count := g.present(ctx, l)
	g.mu.Lock()
	g.lastOK, g.serial, g.failing, g.state = s.clock.Now(), p.Token.Serial, nil, tokenPresent
	g.mu.Unlock()
	s.tokenCount.Store(int64(count))
	s.tokenRefusal.Store(nil)
	return nil
}

// tokenLoop checks the token at every token_check_interval until ctx ends.
func (s *Server) tokenLoop(ctx context.Context) {
	if s.token == nil {
		return
	}
	every(ctx, time.Duration(s.cfg.TokenCheckInterval), func(ctx context.Context) { s.CheckToken(ctx) })
}

// CheckToken runs one presence check now (the token loop runs it at
// every token_check_interval) and returns its error. Past token_grace
// since the last good proof, a failing check makes the server refuse to
// grant; a good one lifts the refusal.
func (s *Server) CheckToken(ctx context.Context) error {
	g := s.token
	if g == nil {
		return nil
	}
	g.check.Lock() // a reload holds it too: the license read next stays in force
	defer g.check.Unlock()
	l := s.lic.Load().license
	if !l.BindsToken() {
		s.tokenRefusal.Store(nil)
		return nil
	}
	p, err := g.prove(ctx, l)
	count := 0
	if err == nil {
		count = g.present(ctx, l)
	}
	now := s.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.lastOK, g.failing, g.serial = now, nil, p.Token.Serial
		s.tokenCount.Store(int64(count))
		if g.state != tokenPresent {
			s.tokenRefusal.Store(nil)
			s.log.Info("token", "code", 0, "event", "present", "serial", p.Token.Serial, "key", p.Key.Thumbprint,
				"absent_for", now.Sub(g.since).Round(time.Second).String())
			s.auditToken(ctx, now, 0, fmt.Sprintf("token present again: serial %s, key %s (absent since %s)",
				p.Token.Serial, p.Key.Thumbprint, g.since.UTC().Format(time.RFC3339)))
			g.state = tokenPresent
		}
		s.log.Debug("token", "code", 0, "event", "proof", "serial", p.Token.Serial, "took", p.Took.String())
		return nil
	}
	e := codes.As(err)
	s.tokenCount.Store(0)
	if g.state == tokenPresent {
		g.since = now
	}
	g.failing = e
	grace := time.Duration(s.cfg.TokenGrace)
	refuseAt := g.lastOK.Add(grace)
	if now.Before(refuseAt) {
		if g.state != tokenAbsent {
			s.log.Warn("token", "code", int(e.Code), "name", e.Code.Name(), "event", "absent", "err", e.Detail(),
				"granting_until", refuseAt.UTC().Format(time.RFC3339), "fix", e.FixText())
			s.auditToken(ctx, now, e.Code, fmt.Sprintf("token check failed: %s; granting until %s (token_grace %s)",
				e.Detail(), refuseAt.UTC().Format(time.RFC3339), grace))
			g.state = tokenAbsent
		}
		return err
	}
	refusal := refusalFor(e, l, g.lastOK, grace)
	prev := s.tokenRefusal.Swap(refusal)
	// Said once per change: of state, or of code (no token, then another).
	if g.state != tokenRefusing || prev == nil || prev.Code != refusal.Code {
		s.log.Error("token", "code", int(refusal.Code), "name", refusal.Code.Name(), "event", "refusing", "err", refusal.Detail(), "fix", refusal.FixText())
		s.auditToken(ctx, now, refusal.Code, "granting stopped: "+refusal.Detail())
		g.state = tokenRefusing
	}
	return err
}

// refusalFor is the error every grant gets once the token has failed its
// checks for longer than the grace: HWTokenWrong when another token
// answered, HWTokenMissing for every other failure, naming its cause.
func refusalFor(cause *codes.Error, l *license.License, lastOK time.Time, grace time.Duration) *codes.Error {
	since := "it has never passed a check"
	if !lastOK.IsZero() {
		since = "the last good check was at " + lastOK.UTC().Format(time.RFC3339)
	}
	if cause.Code == codes.HWTokenWrong {
		return codes.Errorf(codes.HWTokenWrong, "the hardware token present is not the one license %s binds (%s): %s; %s, more than token_grace %s ago",
			l.ID, l.Token.Describe(), cause.Msg, since, grace)
	}
	return codes.Errorf(codes.HWTokenMissing, "license %s binds a hardware token (%s), and no token has proved it holds that key: %s (code %d %s); %s, more than token_grace %s ago",
		l.ID, l.Token.Describe(), cause.Msg, int(cause.Code), cause.Code.Name(), since, grace)
}

func (s *Server) auditToken(ctx context.Context, now time.Time, c codes.Code, detail string) {
	ev := store.Event{Time: now, Kind: store.KindToken, Actor: "server", Code: int(c), Detail: detail}
	if err := s.store.Record(ctx, ev); err != nil && ctx.Err() == nil {
		s.log.Error("audit", "code", int(codes.StoreUnavailable), "name", codes.StoreUnavailable.Name(), "err", err)
	}
}

// tokenStatus reports the guard's state; ok is false when no license
// binds a token.
func (s *Server) tokenStatus() (tokenStatus, bool) {
	g := s.token
	if g == nil || !s.lic.Load().license.BindsToken() {
		return tokenStatus{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := tokenStatus{Present: g.failing == nil, Count: int(s.tokenCount.Load()), Serial: g.serial, LastProof: g.lastOK, Refusing: g.state == tokenRefusing}
	if e := g.failing; e != nil {
		st.Code, st.Name, st.Message = int(e.Code), e.Code.Name(), e.Detail()
		if g.state == tokenAbsent {
			st.RefuseAt = g.lastOK.Add(time.Duration(s.cfg.TokenGrace))
		}
	}
	return st, true
}

// tokenHealth is the console's "hardware-token" check; ok is false when
// the license binds no token.
func (s *Server) tokenHealth() (HealthCheck, bool) {
	st, ok := s.tokenStatus()
	if !ok {
		return HealthCheck{}, false
	}
	l := s.lic.Load().license
	const name = "hardware-token"
	fix := "Plug the token in, or run 'licensor doctor --token-module M --license FILE --vendor-pub FILE --pin-file F' on this host: it names what fails."
	switch {
	case st.Present:
		return passed(name, "token serial %s proved at %s UTC that it holds the license's key (%s; binding %s)",
			st.Serial, license.FormatTime(st.LastProof), l.Token.Describe(), l.Binding()), true
	case st.Refusing:
		c := codes.HWTokenMissing
		if e := s.tokenRefusal.Load(); e != nil {
			c = e.Code
		}
		return HealthCheck{Name: name, Status: "fail", Code: int(c), Found: st.Message, Fix: fix}, true
	}
	return warned(name, codes.Code(st.Code), fmt.Sprintf("the last token check failed: %s; grants go on until %s UTC (token_grace)", st.Message, license.FormatTime(st.RefuseAt)), fix), true
}

// closeToken closes the module.
func (s *Server) closeToken() {
	if g := s.token; g != nil {
		g.mod.Close()
	}
}
