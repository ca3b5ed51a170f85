package doctor

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// ScanLog counts the lines of a server log by code (ok lines aside) and
// shows the newest line of each with its meaning.
func ScanLog(path string, now time.Time) Result {
	const name = "log-scan"
	f, err := os.Open(path)
	if err != nil {
		return fail(name, codes.Errorf(codes.FileMissing, "cannot read the log: %v", err))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxLogScan {
		f.Seek(st.Size()-MaxLogScan, io.SeekStart)
	}
	type seen struct {
		count  int
		newest string
	}
	byCode := map[codes.Code]*seen{}
	lines := 0
	sc := bufio.NewScanner(f)
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
		return pass(name, "%s: %d lines, no failure codes", path, lines)
	}
	order := make([]codes.Code, 0, len(byCode))
	total := 0
	for c, s := range byCode {
		order = append(order, c)
		total += s.count
	}
	sort.Slice(order, func(i, j int) bool { return byCode[order[i]].count > byCode[order[j]].count })
	r := warn(name, order[0], fmt.Sprintf("%s: %d of %d lines carry a failure code, %d kinds; most often code=%d %s", path, total, lines, len(order), int(order[0]), order[0].Name()),
		"Read each code's meaning below ('licensor explain CODE'); fix the most frequent first.")
	for _, c := range order {
		in, _ := c.Info()
		line := fmt.Sprintf("code=%d %s ×%d: %s", int(c), in.Name, byCode[c].count, in.Meaning)
		if chk, ok := checkFor[c]; ok {
			line += " — see " + chk
		}
		r.Details = append(r.Details, line, "  newest: "+truncateLine(byCode[c].newest, 200))
	}
	return r
}

func truncateLine(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
