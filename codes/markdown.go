package codes

import (
	"fmt"
	"strings"
)

// Markdown renders the table as docs/errors.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# licensor error codes\n\n")
	b.WriteString("<!-- Generated from codes/codes.go by 'go test ./codes -run TestDocs -update'. Do not edit. -->\n\n")
	b.WriteString("Every failure licensor reports carries one of these codes: the SDK returns it,\n")
	b.WriteString("the server puts it in JSON error bodies and log lines, and `licensor explain CODE`\n")
	b.WriteString("prints its row. Codes below 100 are transport failures numbered as libcurl numbers\n")
	b.WriteString("them, 5xx are license verdicts, 6xx are bad input, 7xx the server's own failures,\n")
	b.WriteString("8xx token (JWT) failures.\n")
	b.WriteString("Numbers are never reused.\n\n")
	b.WriteString("| code | name | HTTP | meaning | fix |\n")
	b.WriteString("| ---: | --- | ---: | --- | --- |\n")
	for _, in := range All() {
		status := "—"
		if in.HTTPStatus != 0 {
			status = fmt.Sprint(in.HTTPStatus)
		}
		meaning := in.Meaning
		if in.NeverEmitted {
			meaning += " *(never emitted)*"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s |\n", int(in.Code), in.Name, status, escape(meaning), escape(in.Fix))
	}
	b.WriteString("\nHTTP — means the code is produced by the client (SDK or CLI) and never sent by a server.\n")
	return b.String()
}

func escape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
