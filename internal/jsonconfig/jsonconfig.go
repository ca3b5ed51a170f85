// Package jsonconfig reads licensor's JSON configuration files the same
// way everywhere: bounded, over the defaults, unknown keys refused with the
// key named, and a bad value named by its field (nested ones as
// "tls.cert"). Failures are codes.ConfigInvalid.
//
// The files are JSON with one addition: "//" outside a string starts a
// comment that runs to the end of the line, so that a configuration can
// say why it sets what it sets (examples/config is written so).
package jsonconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
)

// MaxSize bounds a configuration file.
const MaxSize = 1 << 20

// Duration is a time.Duration written as "90s" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "90s" or "5m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"90s\"", s)
	}
	*d = Duration(v)
	return nil
}

// Decode reads r into v, which holds the defaults. fresh returns another
// value holding the defaults, used to find which key a bad value is under;
// known lists the keys for the message about an unknown one.
func Decode(r io.Reader, v any, fresh func() any, known string) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return codes.Errorf(codes.ConfigInvalid, "cannot read the configuration: %w", err)
	}
	if len(data) > MaxSize {
		return codes.Errorf(codes.ConfigInvalid, "the configuration is larger than %d bytes", MaxSize)
	}
	data = StripComments(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return codes.Errorf(codes.ConfigInvalid, "%s", describe(data, err, fresh, known))
	}
	if dec.More() {
		return codes.Errorf(codes.ConfigInvalid, "data after the configuration's JSON object")
	}
	return nil
}

// StripComments blanks the "//" comments of data: each byte from "//"
// outside a string to the end of its line becomes a space, so that the
// JSON left has every other byte where it was and an error's line number
// is the file's. A string's escapes are followed, so "https://host" and
// "a\"//b" are strings, not comments. data is not modified.
func StripComments(data []byte) []byte {
	var out []byte // nil until a comment is found
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '/' && i+1 < len(data) && data[i+1] == '/':
			if out == nil {
				out = bytes.Clone(data)
			}
			for ; i < len(data) && data[i] != '\n'; i++ {
				out[i] = ' '
			}
		}
	}
	if out == nil {
		return data
	}
	return out
}

func describe(data []byte, err error, fresh func() any, known string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("not valid JSON at line %d: %v", line, syn)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want a %s, not a JSON %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("unknown key %s (known keys: %s)", strings.TrimPrefix(err.Error(), "json: unknown field "), known)
	case errors.Is(err, io.EOF):
		return "the configuration is empty; write {} for all defaults"
	}
	if field := culprit(data, fresh); field != "" {
		return fmt.Sprintf("field %q: %v", field, err)
	}
	return err.Error()
}

// culprit names the key whose value does not decode (a value's own
// decoder failed, as a bad duration does), by decoding the keys one at a
// time; under an object, its keys one at a time.
func culprit(data []byte, fresh func() any) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return ""
	}
	for _, k := range sortedKeys(fields) {
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if json.Unmarshal(one, fresh()) == nil {
			continue
		}
		var sub map[string]json.RawMessage
		if json.Unmarshal(fields[k], &sub) == nil {
			for _, sk := range sortedKeys(sub) {
				nested, _ := json.Marshal(map[string]map[string]json.RawMessage{k: {sk: sub[sk]}})
				if json.Unmarshal(nested, fresh()) != nil {
					return k + "." + sk
				}
			}
		}
		return k
	}
	return ""
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Resolve makes relative paths absolute against dir ("" leaves them).
func Resolve(dir string, paths ...*string) {
	if dir == "" {
		return
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
