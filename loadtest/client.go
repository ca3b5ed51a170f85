package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"time"
)

// The load tool shares the machine with the server it measures, so what
// it spends of the CPU is taken from the server's figures. Go's HTTP
// client hands each request between three goroutines (the caller's, and
// a connection's reader and writer) and allocates per request what these
// requests never vary. On the 2-core development machine it took
// 176–248µs of CPU per register+release cycle and about 82µs per
// heartbeat, as much as a cluster node's share of the work; this client,
// one goroutine per request on a keep-alive connection of its own, takes
// 80–110µs and about 35µs. In paired runs the same cluster did 12–42%
// more cycles and 25–35% more heartbeats with it, and the trivial probe
// server 20–35% more requests. It speaks only what licensor's server
// answers: HTTP/1.1 with a length or in chunks. The run's first request
// still goes through Go's client, whose errors say the most.

// conn is one keep-alive connection to the server.
type conn struct {
	c   *tls.Conn
	br  *bufio.Reader
	req []byte // the request being written, kept for its capacity
}

// dial opens a connection to addr (host:port) over TLS with cfg.
func dial(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) (*conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c.(*tls.Conn), br: bufio.NewReaderSize(c, 8<<10)}, nil
}

// post sends body to path and reads the answer, within timeout (none
// when 0) and ctx. reuse is false when the connection must not carry
// another request.
func (c *conn) post(ctx context.Context, host, path string, body []byte, timeout time.Duration) (status int, data []byte, reuse bool, err error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() { // ctx ended: its deadline may still be set on c
			reuse = false
		}
	}()
	c.req = append(c.req[:0], "POST "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, host...)
	c.req = append(c.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	if _, err := c.c.Write(c.req); err != nil {
		return 0, nil, false, err
	}
	status, data, reuse, err = readResponse(c.br, maxAnswer)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return status, data, reuse, err
}

func (c *conn) close() { c.c.Close() }

// errAnswer: the server's answer is not HTTP/1.1 as licensor's server
// writes it.
var errAnswer = errors.New("the answer is not HTTP/1.1")

// readResponse reads one HTTP/1.1 response from br: its status and its
// body, of at most max bytes. reuse reports whether another response may
// follow on the connection. A body without a length or chunks runs to
// the end of the connection.
func readResponse(br *bufio.Reader, max int) (status int, body []byte, reuse bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, nil, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, nil, false, fmt.Errorf("%w: status line %.40q", errAnswer, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, nil, false, fmt.Errorf("%w: status line %.40q", errAnswer, line)
	}
	reuse = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := readLine(br)
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("%w: header %.40q", errAnswer, h)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || (length >= 0 && n != length) {
				return 0, nil, false, fmt.Errorf("%w: Content-Length %.40q", errAnswer, v)
			}
			length = n
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(v, []byte("chunked")) {
				return 0, nil, false, fmt.Errorf("%w: Transfer-Encoding %.40q", errAnswer, v)
			}
			chunked = true
		case bytes.EqualFold(k, []byte("Connection")):
			if bytes.EqualFold(v, []byte("close")) {
				reuse = false
			}
		}
	}
	if status < 200 || status == 204 || status == 304 {
		// No body; licensor's server sends none of the interim answers.
		if status < 200 {
			return 0, nil, false, fmt.Errorf("%w: interim status %d", errAnswer, status)
		}
		return status, nil, reuse, nil
	}
	var rd io.Reader
	switch {
	case chunked:
		rd = httputil.NewChunkedReader(br)
	case length >= 0:
		if length > max {
			return 0, nil, false, fmt.Errorf("the answer's body is larger than %d bytes", max)
		}
		body = make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return 0, nil, false, noEOF(err)
		}
		return status, body, reuse, nil
	default:
		rd, reuse = br, false
	}
	body, err = io.ReadAll(io.LimitReader(rd, int64(max)+1))
	if err != nil {
		return 0, nil, false, noEOF(err)
	}
	if len(body) > max {
		return 0, nil, false, fmt.Errorf("the answer's body is larger than %d bytes", max)
	}
	for chunked { // the trailer, to its empty line
		line, err := readLine(br)
		if err != nil {
			return 0, nil, false, err
		}
		chunked = len(line) > 0
	}
	return status, body, reuse, nil
}

// readLine reads a line ended by CRLF (or LF), without its end.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", errAnswer, br.Size())
		}
		return nil, noEOF(err)
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	return line, nil
}

// noEOF: an answer cut short is an unexpected end, not the end of the
// stream.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
