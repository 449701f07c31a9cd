package iceberg

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A single-pass JSON validator that also finds the top-level fields the
// typed columns want, without allocating. It accepts exactly what
// encoding/json's Valid accepts (FuzzJSONRow checks that), minus invalid
// UTF-8: the value column is an Iceberg string, and readers such as DuckDB
// refuse strings that are not UTF-8. The standard library's Valid plus a
// Decoder walk over the top level took about 50 times longer and 80
// allocations per 100-byte value (BenchmarkJSONExtract, iceberg/README.md).

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// ValidJSON says whether value is a JSON text that json mode stores in the
// topic's table; if not, reason is the _error of its {topic}_dlq row. A
// null value (a tombstone) is not JSON text: "value is null".
func ValidJSON(value []byte) (reason string, ok bool) {
	if value == nil {
		return "value is null", false
	}
	var s jsonScanner
	return s.scan(value)
}

// jsonKind is what a top-level field holds.
type jsonKind uint8

const (
	kindMissing   jsonKind = iota
	kindString             // span includes the quotes
	kindEscString          // a string with backslash escapes
	kindInt                // a number without fraction or exponent
	kindNumber             // any other number
	kindTrue
	kindFalse
	kindNull
	kindOther // object or array
)

type jsonSpan struct {
	start, end int
	kind       jsonKind
}

// jsonScanner validates one JSON text; with names set, it records in
// slots[i] the span of the top-level object member whose key is names[i]
// (the last one when a key repeats, as encoding/json does).
type jsonScanner struct {
	names []string
	index map[string]int // names -> slot, when there are many
	slots []jsonSpan
	buf   []byte // unescaped keys

	data   []byte
	errPos int
	errMsg string
}

func newJSONScanner(names []string) jsonScanner {
	s := jsonScanner{names: names, slots: make([]jsonSpan, len(names))}
	// Up to a few names, comparing is cheaper than hashing.
	if len(names) > 8 {
		s.index = make(map[string]int, len(names))
		for i, n := range names {
			s.index[n] = i
		}
	}
	return s
}

func (s *jsonScanner) slot(key []byte) (int, bool) {
	if s.index != nil {
		i, ok := s.index[string(key)]
		return i, ok
	}
	for i, n := range s.names {
		if len(n) == len(key) && n == string(key) {
			return i, true
		}
	}
	return 0, false
}

// scan validates data and fills the slots (reset first).
func (s *jsonScanner) scan(data []byte) (reason string, ok bool) {
	for i := range s.slots {
		s.slots[i] = jsonSpan{}
	}
	s.data, s.errMsg = data, ""
	i := s.ws(0)
	var end int
	if i < len(data) && data[i] == '{' && len(s.names) > 0 {
		end = s.topObject(i)
	} else {
		end, _ = s.value(i, 0)
	}
	if end >= 0 {
		if end = s.ws(end); end != len(data) {
			end = s.fail(end, "")
		}
	}
	s.data = nil
	if end < 0 {
		for i := range s.slots {
			s.slots[i] = jsonSpan{}
		}
		return s.reason(), false
	}
	return "", true
}

func (s *jsonScanner) reason() string {
	if s.errMsg != "" {
		return fmt.Sprintf("invalid JSON at byte %d: %s", s.errPos, s.errMsg)
	}
	return "invalid JSON: unexpected end of input"
}

// fail records an error at i and returns -1; msg "" is an unexpected
// character (or the end of the input when i is past it).
func (s *jsonScanner) fail(i int, msg string) int {
	if msg == "" && i < len(s.data) {
		c := s.data[i]
		if c >= 0x20 && c < 0x7f {
			msg = fmt.Sprintf("unexpected character %q", rune(c))
		} else {
			msg = fmt.Sprintf("unexpected byte 0x%02x", c)
		}
	}
	s.errPos, s.errMsg = i, msg
	return -1
}

func (s *jsonScanner) ws(i int) int {
	for i < len(s.data) {
		switch s.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value checks the value at i and returns its end (or -1) and kind.
func (s *jsonScanner) value(i, depth int) (int, jsonKind) {
	if i >= len(s.data) {
		return s.fail(i, ""), 0
	}
	switch c := s.data[i]; {
	case c == '"':
		end, esc := s.str(i)
		if esc {
			return end, kindEscString
		}
		return end, kindString
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return s.fail(i, "nested too deeply"), 0
		}
		if c == '{' {
			return s.object(i, depth+1), kindOther
		}
		return s.array(i, depth+1), kindOther
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	case c == 't':
		return s.literal(i, "true"), kindTrue
	case c == 'f':
		return s.literal(i, "false"), kindFalse
	case c == 'n':
		return s.literal(i, "null"), kindNull
	}
	return s.fail(i, ""), 0
}

func (s *jsonScanner) literal(i int, lit string) int {
	for j := 0; j < len(lit); j++ {
		if i+j >= len(s.data) || s.data[i+j] != lit[j] {
			return s.fail(i+j, "")
		}
	}
	return i + len(lit)
}

func (s *jsonScanner) object(i, depth int) int {
	i = s.ws(i + 1)
	if i < len(s.data) && s.data[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(s.data) || s.data[i] != '"' {
			return s.fail(i, "")
		}
		if i, _ = s.str(i); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(s.data) || s.data[i] != ':' {
			return s.fail(i, "")
		}
		if i, _ = s.value(s.ws(i+1), depth); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(s.data) {
			return s.fail(i, "")
		}
		switch s.data[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1
		default:
			return s.fail(i, "")
		}
	}
}

// topObject is object for the top level, recording the wanted members.
func (s *jsonScanner) topObject(i int) int {
	i = s.ws(i + 1)
	if i < len(s.data) && s.data[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(s.data) || s.data[i] != '"' {
			return s.fail(i, "")
		}
		kstart := i
		kend, esc := s.str(i)
		if kend < 0 {
			return -1
		}
		key := s.data[kstart+1 : kend-1]
		if esc {
			s.buf = unescape(shrink(s.buf), key)
			key = s.buf
		}
		slot, want := s.slot(key)
		if i = s.ws(kend); i >= len(s.data) || s.data[i] != ':' {
			return s.fail(i, "")
		}
		vstart := s.ws(i + 1)
		var kind jsonKind
		if i, kind = s.value(vstart, 1); i < 0 {
			return -1
		}
		if want {
			s.slots[slot] = jsonSpan{vstart, i, kind}
		}
		if i = s.ws(i); i >= len(s.data) {
			return s.fail(i, "")
		}
		switch s.data[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1
		default:
			return s.fail(i, "")
		}
	}
}

func (s *jsonScanner) array(i, depth int) int {
	i = s.ws(i + 1)
	if i < len(s.data) && s.data[i] == ']' {
		return i + 1
	}
	for {
		if i, _ = s.value(i, depth); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(s.data) {
			return s.fail(i, "")
		}
		switch s.data[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1
		default:
			return s.fail(i, "")
		}
	}
}

// str checks the string at i (a quote) and returns its end and whether it
// has escapes.
func (s *jsonScanner) str(i int) (int, bool) {
	d := s.data
	esc := false
	for i++; i < len(d); {
		c := d[i]
		switch {
		case c == '"':
			return i + 1, esc
		case c == '\\':
			esc = true
			if i+1 >= len(d) {
				return s.fail(len(d), ""), false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) {
						return s.fail(j, ""), false
					}
					if !isHex(d[j]) {
						return s.fail(j, "invalid \\u escape"), false
					}
				}
				i += 6
			default:
				return s.fail(i+1, "invalid escape"), false
			}
		case c < 0x20:
			return s.fail(i, "control character in string"), false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && n == 1 {
				return s.fail(i, "invalid UTF-8"), false
			}
			i += n
		}
	}
	return s.fail(len(d), ""), false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func (s *jsonScanner) number(i int) (int, jsonKind) {
	d := s.data
	kind := kindInt
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && isDigit(d[i]):
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return s.fail(i, ""), 0
	}
	if i < len(d) && d[i] == '.' {
		kind = kindNumber
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return s.fail(i, ""), 0
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		kind = kindNumber
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return s.fail(i, ""), 0
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	return i, kind
}

// unescape appends the text of a valid JSON string body src (without the
// quotes) to dst; a lone surrogate becomes U+FFFD, as in encoding/json.
func unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch src[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := unicodeReplacement
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(src[i+2:])); dec != unicodeReplacement {
						r2 = dec
						i += 6
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // " \ /
			dst = append(dst, src[i+1])
		}
		i += 2
	}
	return dst
}

const unicodeReplacement = '\uFFFD'

// shrink empties a scratch buffer, and lets go of one that a huge value
// grew, so an encoder does not keep it for the rest of its life.
func shrink(b []byte) []byte {
	if cap(b) > 64<<10 {
		return nil
	}
	return b[:0]
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// jsonLong is an integer JSON number that fits in an int64.
func jsonLong(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var u uint64
	for _, c := range b {
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// jsonDouble is any JSON number that is finite as a float64.
func jsonDouble(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}

// epochMillisMax keeps millis*1000 inside an int64.
const epochMillisMax = (1<<63 - 1) / 1000

// jsonTimestamp is microseconds since the epoch of an RFC 3339 string (text
// without quotes, unescaped) or of an integer of epoch milliseconds.
func jsonTimestampString(text []byte) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, string(text))
	if err != nil {
		return 0, false
	}
	return t.UnixMicro(), true
}

func jsonTimestampMillis(b []byte) (int64, bool) {
	ms, ok := jsonLong(b)
	if !ok || ms > epochMillisMax || ms < -epochMillisMax {
		return 0, false
	}
	return ms * 1000, true
}
