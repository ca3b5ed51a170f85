package transport

import (
	"encoding/json"
	"net/http"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
)

// maxNameShown bounds how much of a body's name a message repeats.
const maxNameShown = 64

// ErrorFromBody reads a failure answer: an HTTP status other than 200
// and its body. A licensor server's error body carries a code of the
// table, that code's name, and the HTTP status the table gives the code;
// such a body becomes its code, message and fix. Anything else is
// codes.WeirdReply, with the raw HTTP status and what the body claimed in
// the message: a body that is not a licensor error body, code 0 (a
// failure is never ok), a code not in the table, a name that is not the
// code's, or a code whose status is not the answer's, including the codes
// only a client reports, which no server sends.
//
// from names who answered ("https://host:8443", "POST https://…/v1/grant")
// in a weird reply's message. The result is never nil and never code 0,
// whatever status and body are.
func ErrorFromBody(from string, status int, body []byte) *codes.Error {
	if from == "" {
		from = "the server"
	}
	weird := func(format string, args ...any) *codes.Error {
		return codes.Errorf(codes.WeirdReply, "%s answered HTTP %d "+format, append([]any{from, status}, args...)...)
	}
	var e api.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Name == "" {
		return weird("without a licensor error body")
	}
	c := codes.Code(e.Code)
	name := e.Name
	if len(name) > maxNameShown {
		name = name[:maxNameShown] + "…"
	}
	in, known := c.Info()
	switch {
	case c == codes.OK:
		return weird("with a body claiming code 0 %q: a failure status is never ok", name)
	case !known:
		return weird("with code %d %q, which is not in licensor's table of codes", e.Code, name)
	case e.Name != in.Name:
		return weird("with code %d named %q; code %d is %s", e.Code, name, e.Code, in.Name)
	case in.HTTPStatus == 0:
		return weird("with code %s, which only a client reports, never a server", c)
	case in.HTTPStatus != status:
		return weird("with code %s, which a server sends with HTTP %d %s", c, in.HTTPStatus, http.StatusText(in.HTTPStatus))
	}
	return (&codes.Error{Code: c, Msg: e.Message}).WithFix(e.Fix)
}
