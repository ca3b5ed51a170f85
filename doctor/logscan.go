package doctor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
)

var discard = slog.New(slog.DiscardHandler)

// MaxLogScan bounds how much of a log the doctor reads: the end of the
// file, where the recent lines are.
const MaxLogScan = 16 << 20

// codeRE finds a code in a log line, as licensor writes it in text or JSON
// logs ("code=509", "\"code\":509") and as the auth-server tradition does
// ("ret = 501").
var codeRE = regexp.MustCompile(`(?:\bcode=|"code":\s*|\bret\s*=\s*)(-?\d+)`)

// checkFor names the doctor check that explains a code seen in a log.
var checkFor = map[codes.Code]string{
	codes.StoreUnavailable:  "the server's readiness (GET /readyz) and its data directory's disk",
	codes.LicenseTampered:   "license (run the doctor with --license and --vendor-pub on the server host)",
	codes.WrongVendorKey:    "license",
	codes.Fingerprint:       "license (on the server host)",
	codes.ClockRollback:     "clock-skew",
	codes.ClientCert:        "client-cert and client-ca-accepted",
	codes.TLSHandshake:      "client-ca-accepted",
	codes.RoleForbidden:     "client-cert (its role)",
	codes.ServerKeyMismatch: "license",
	codes.AuditTampered:     "'licensor audit verify'",
}

const logScan = "log-scan"

// ScanLog counts the lines of a server log file (the server's log_file)
// by code (ok lines aside) and shows the newest line of each with its
// meaning.
func ScanLog(path string, now time.Time) Result {
	f, err := os.Open(path)
	if err != nil {
		return fail(logScan, codes.Errorf(codes.FileMissing, "cannot read the log: %v", err).
			WithFix("Give the file the server logs to: its \"log_file\" setting. A server without one logs to standard error: under systemd, scan it with --journal UNIT."))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxLogScan {
		f.Seek(st.Size()-MaxLogScan, io.SeekStart)
	}
	r, _ := scanLines(f, path)
	return r
}

// scanLines counts the lines of in by code; source names in in the
// result. It returns the number of lines too.
func scanLines(in io.Reader, source string) (Result, int) {
	const name = logScan
	type seen struct {
		count  int
		newest string
	}
	byCode := map[codes.Code]*seen{}
	lines := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines++
		m := codeRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n == 0 {
			continue
		}
		c := codes.Code(n)
		s := byCode[c]
		if s == nil {
			s = &seen{}
			byCode[c] = s
		}
		s.count++
		s.newest = strings.TrimSpace(sc.Text())
	}
	if len(byCode) == 0 {
		return pass(name, "%s: %d lines, no failure codes", source, lines), lines
	}
	order := make([]codes.Code, 0, len(byCode))
	total := 0
	for c, s := range byCode {
		order = append(order, c)
		total += s.count
	}
	sort.Slice(order, func(i, j int) bool { return byCode[order[i]].count > byCode[order[j]].count })
	r := warn(name, order[0], fmt.Sprintf("%s: %d of %d lines carry a failure code, %d kinds; most often code=%d %s", source, total, lines, len(order), int(order[0]), order[0].Name()),
		"Read each code's meaning below ('licensor explain CODE'); fix the most frequent first.")
	for _, c := range order {
		in, _ := c.Info()
		line := fmt.Sprintf("code=%d %s ×%d: %s", int(c), in.Name, byCode[c].count, in.Meaning)
		if chk, ok := checkFor[c]; ok {
			line += " — see " + chk
		}
		r.Details = append(r.Details, line, "  newest: "+truncateLine(byCode[c].newest, 200))
	}
	return r, lines
}

func truncateLine(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// unitRE is what a systemd unit name may hold.
var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,256}$`)

// ScanJournal scans the journal of a systemd unit, where a server without
// log_file logs under systemd, from since on: journalctl -u UNIT -o cat
// --since @SINCE, run as command ("" is journalctl, looked up in PATH).
// Without journalctl the check is skipped, saying so.
func ScanJournal(ctx context.Context, command, unit string, since time.Time) Result {
	if !unitRE.MatchString(unit) || strings.HasPrefix(unit, "-") {
		return fail(logScan, codes.Errorf(codes.InvalidArgument, "--journal %q is not a systemd unit name", unit).
			WithFix("Give the server's unit, as 'systemctl status' names it: licensor or licensor.service."))
	}
	if command == "" {
		command = "journalctl"
	}
	path, err := exec.LookPath(command)
	if err != nil {
		return skip(logScan, fmt.Sprintf("journalctl is not installed (%v): cannot read the journal of %s; scan the server's log_file with --log FILE", err, unit))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--unit="+unit, "--output=cat", "--since=@"+strconv.FormatInt(since.Unix(), 10), "--no-pager", "--quiet")
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4 << 10}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail(logScan, codes.Errorf(codes.Unknown, "cannot run journalctl: %w", err))
	}
	source := fmt.Sprintf("the journal of %s since %s", unit, since.UTC().Format(time.RFC3339))
	if err := cmd.Start(); err != nil {
		return fail(logScan, codes.Errorf(codes.Unknown, "cannot run journalctl: %w", err))
	}
	r, lines := scanLines(out, source)
	io.Copy(io.Discard, out)
	werr := cmd.Wait()
	said := strings.TrimSpace(strings.SplitN(stderr.String(), "\n", 2)[0])
	if werr != nil {
		if said == "" {
			said = werr.Error()
		}
		return fail(logScan, codes.Errorf(codes.FileMissing, "cannot read %s: journalctl: %s", source, said).WithFix(journalFix))
	}
	if lines == 0 {
		found := source + ": no lines"
		if said != "" {
			found += " (journalctl: " + said + ")"
		}
		return warn(logScan, codes.FileMissing, found, "Check the unit's name ('systemctl status "+unit+"') and "+journalFix)
	}
	return r
}

const journalFix = "run the doctor as root or as a member of the systemd-journal (or adm) group, who may read the system journal."

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	k := min(len(p), l.n)
	l.w.Write(p[:k])
	l.n -= k
	return len(p), nil
}
