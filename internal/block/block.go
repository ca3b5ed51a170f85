// Package block holds what licensor's text files (licenses, key files)
// share in their signed block: a compact JWS wrapped in lines.
package block

import "strings"

// Join returns the block with its line breaks and other whitespace
// removed: the compact JWS the lines carry.
func Join(block string) string {
	if strings.IndexByte(block, ' ') < 0 && strings.IndexByte(block, '\t') < 0 && strings.IndexByte(block, '\r') < 0 {
		// Lines broken by newlines alone, as licensor writes them: each
		// line is found with one vectorized search.
		return strings.ReplaceAll(block, "\n", "")
	}
	var b strings.Builder
	b.Grow(len(block))
	for len(block) > 0 {
		i := strings.IndexAny(block, " \t\r\n")
		if i < 0 {
			b.WriteString(block)
			break
		}
		b.WriteString(block[:i])
		block = block[i+1:]
	}
	return b.String()
}
