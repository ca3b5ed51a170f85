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
)

// Event is one entry of the audit log. Each event's Hash covers its fields
// and the previous event's hash, so an edited, inserted or deleted event
// breaks the chain from there on.
type Event struct {
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
	return h.Sum(nil)
}

// ChainError says where the audit chain breaks.
type ChainError struct {
	Seq    int64
	Reason string
}

func (e *ChainError) Error() string {
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
	case e.Seq != wantSeq:
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("sequence number %d follows %d (events deleted or inserted)", e.Seq, wantSeq-1)}
	case !bytes.Equal(e.Prev, wantPrev):
		return &ChainError{Seq: e.Seq, Reason: "it does not link to the event before it (events deleted, inserted or reordered)"}
	case !bytes.Equal(e.Hash, e.digest()):
		return &ChainError{Seq: e.Seq, Reason: "its contents do not match its hash (the event was edited)"}
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
