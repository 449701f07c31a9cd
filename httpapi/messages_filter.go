package httpapi

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/zombi-dev/zombi/log/batch"
)

// maxFilterBytes bounds q (GET /tables q, messages and tail q).
const maxFilterBytes = 1024

// textFilter is the q and in parameters of the message browser and the
// tail: a case-insensitive substring looked for in the chosen parts of a
// record (as UTF-8 text).
type textFilter struct {
	q                   string // lower case; "" matches everything
	key, value, headers bool
	qASCII              bool
}

// matches reports whether r passes the filter.
func (f *textFilter) matches(r *batch.Record) bool {
	if f.q == "" {
		return true
	}
	if f.key && f.contains(r.Key) {
		return true
	}
	if f.value && f.contains(r.Value) {
		return true
	}
	if f.headers {
		for _, h := range r.Headers {
			if containsFold(h.Key, f.q, f.qASCII) || f.contains(h.Value) {
				return true
			}
		}
	}
	return false
}

func (f *textFilter) contains(b []byte) bool { return containsFold(b, f.q, f.qASCII) }

// containsFold reports whether s contains the lower-case needle, ignoring
// case. An ASCII needle is compared byte by byte without allocating (bytes
// of other characters never equal an ASCII byte in UTF-8); any other goes
// through Unicode lower-casing.
func containsFold[T string | []byte](s T, needle string, ascii bool) bool {
	if len(needle) == 0 {
		return true
	}
	if !ascii {
		switch v := any(s).(type) {
		case string:
			return strings.Contains(strings.ToLower(v), needle)
		case []byte:
			return bytes.Contains(bytes.ToLower(v), []byte(needle))
		}
	}
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// newTextFilter builds the filter of q and in (a comma list of key, value
// and headers; "" is all three).
func newTextFilter(q, in string) (textFilter, error) {
	if len(q) > maxFilterBytes {
		return textFilter{}, badRequest("query parameter q is %d bytes, at most %d", len(q), maxFilterBytes)
	}
	if !utf8.ValidString(q) {
		return textFilter{}, badRequest("query parameter q is not valid UTF-8")
	}
	f := textFilter{q: strings.ToLower(q)}
	f.qASCII = isASCII(f.q)
	if in == "" {
		f.key, f.value, f.headers = true, true, true
		return f, nil
	}
	for _, part := range strings.Split(in, ",") {
		switch strings.TrimSpace(part) {
		case "key":
			f.key = true
		case "value":
			f.value = true
		case "headers":
			f.headers = true
		default:
			return textFilter{}, badRequest("query parameter in: %q is not one of key, value, headers (a comma list)", part)
		}
	}
	return f, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
