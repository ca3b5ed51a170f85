package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// Event kinds.
const (
	KindGrant   = "grant"
	KindResume  = "resume"
	KindDeny    = "deny"
	KindRelease = "release"
	KindRevoke  = "revoke"
	KindExpire  = "expire"
	KindReload  = "reload"
	KindStart   = "start"
	KindToken   = "token" // a hardware token's presence changed
)

// Event is one entry of the audit log. Each event's Hash covers its fields
// and the previous event's hash, so an edited, inserted or deleted event
// breaks the chain from there on.
//
// Several servers sharing one store each keep a chain of their own, named
// by Node (a single server's events have none): a node appends without
// waiting for the others, and a chain broken on one node is named by it.
type Event struct {
	Node       string    `json:"node,omitempty"`
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	Product    string    `json:"product,omitempty"`
	InstanceID string    `json:"instance_id,omitempty"`
	Actor      string    `json:"actor,omitempty"` // client certificate subject, or "server"
	Code       int       `json:"code"`
	Detail     string    `json:"detail,omitempty"`
	Prev       []byte    `json:"prev"`
	Hash       []byte    `json:"hash"`
}

// Seal sets e's Seq, Prev and Hash to follow prev (nil for the first).
func (e *Event) Seal(prev *Event) {
	e.Seq, e.Prev = 1, nil
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Hash = e.digest()
}

func (e *Event) digest() []byte {
	h := sha256.New()
	h.Write([]byte("licensor-audit-v1\x00"))
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	field(n[:])
	field(e.Prev)
	field([]byte(e.Time.UTC().Format(time.RFC3339Nano)))
	field([]byte(e.Kind))
	field([]byte(e.Product))
	field([]byte(e.InstanceID))
	field([]byte(e.Actor))
	field([]byte(fmt.Sprint(e.Code)))
	field([]byte(e.Detail))
	if e.Node != "" { // absent from a single server's events, whose hashes stay as they were
		field([]byte(e.Node))
	}
	return h.Sum(nil)
}

// ChainError says where the audit chain breaks.
type ChainError struct {
	Node   string // the chain's node; "" for a single server's
	Seq    int64
	Reason string
}

func (e *ChainError) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("audit log of node %q broken at event %d: %s", e.Node, e.Seq, e.Reason)
	}
	return fmt.Sprintf("audit log broken at event %d: %s", e.Seq, e.Reason)
}

// Verifier checks events one by one, in order.
type Verifier struct {
	prev  *Event
	Count int64
}

// Check verifies that e follows the previous event checked.
func (v *Verifier) Check(e Event) error {
	wantSeq, wantPrev := int64(1), []byte(nil)
	if v.prev != nil {
		wantSeq, wantPrev = v.prev.Seq+1, v.prev.Hash
	}
	switch {
	case v.prev != nil && e.Node != v.prev.Node:
		return &ChainError{Node: e.Node, Seq: e.Seq, Reason: fmt.Sprintf("it belongs to node %q's chain, not %q's", e.Node, v.prev.Node)}
	case e.Seq != wantSeq:
		return &ChainError{Node: e.Node, Seq: e.Seq, Reason: fmt.Sprintf("sequence number %d follows %d (events deleted or inserted)", e.Seq, wantSeq-1)}
	case !bytes.Equal(e.Prev, wantPrev):
		return &ChainError{Node: e.Node, Seq: e.Seq, Reason: "it does not link to the event before it (events deleted, inserted or reordered)"}
	case !bytes.Equal(e.Hash, e.digest()):
		return &ChainError{Node: e.Node, Seq: e.Seq, Reason: "its contents do not match its hash (the event was edited)"}
	}
	ev := e
	v.prev, v.Count = &ev, v.Count+1
	return nil
}

// Head returns the hex hash of the last event checked.
func (v *Verifier) Head() string {
	if v.prev == nil {
		return ""
	}
	return hex.EncodeToString(v.prev.Hash)
}

// Chains checks the events of several nodes' chains, each in order; the
// events of one chain need not be contiguous.
type Chains struct {
	chains map[string]*Verifier
	order  []string
	Count  int64
}

// Check verifies that e follows the previous event of its node's chain.
func (c *Chains) Check(e Event) error {
	if c.chains == nil {
		c.chains = map[string]*Verifier{}
	}
	v := c.chains[e.Node]
	if v == nil {
		v = &Verifier{}
		c.chains[e.Node] = v
		c.order = append(c.order, e.Node)
	}
	if err := v.Check(e); err != nil {
		return err
	}
	c.Count++
	return nil
}

// ChainHead is where one node's chain ends.
type ChainHead struct {
	Node   string `json:"node,omitempty"`
	Events int64  `json:"events"`
	Head   string `json:"head"`
}

// Heads lists each chain checked, in the order first seen.
func (c *Chains) Heads() []ChainHead {
	out := make([]ChainHead, 0, len(c.order))
	for _, n := range c.order {
		v := c.chains[n]
		out = append(out, ChainHead{Node: n, Events: v.Count, Head: v.Head()})
	}
	return out
}
