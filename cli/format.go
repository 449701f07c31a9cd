package cli

import (
	"bytes"
	"fmt"
	"strings"
)

// fmtToken is one piece of a record format: a field (%k, %v, ...) or
// literal text.
type fmtToken struct {
	field byte // 0 for literal text
	lit   string
}

// parseFormat reads an rpk-style record format: %X fields among allowed,
// %% for a percent sign, and the escapes \n \t \r \\ in literal text.
func parseFormat(s, allowed string) ([]fmtToken, error) {
	var toks []fmtToken
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, fmtToken{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				return nil, usagef("--format %q: unknown escape \\%c (\\n, \\t, \\r and \\\\ are known)", s, s[i])
			}
		case c == '%' && i+1 < len(s):
			i++
			if s[i] == '%' {
				lit.WriteByte('%')
				continue
			}
			if !strings.ContainsRune(allowed, rune(s[i])) {
				return nil, usagef("--format %q: unknown field %%%c (known: %s)", s, s[i], fieldList(allowed))
			}
			flush()
			toks = append(toks, fmtToken{field: s[i]})
		case c == '%':
			return nil, usagef("--format %q: a lone %% at the end (%%%% is a percent sign)", s)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return toks, nil
}

func fieldList(allowed string) string {
	var parts []string
	for _, f := range allowed {
		parts = append(parts, "%"+string(f))
	}
	return strings.Join(parts, " ")
}

// recordSplitter cuts input records into fields with a produce format: the
// format's last token is the record delimiter (a literal), and each field
// runs up to the literal after it (the last field to the delimiter).
type recordSplitter struct {
	delim string
	body  []fmtToken
}

func newRecordSplitter(format string) (*recordSplitter, error) {
	toks, err := parseFormat(format, "kvp")
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 || toks[len(toks)-1].field != 0 {
		return nil, usagef("--format %q must end with the record delimiter, e.g. \\n", format)
	}
	rs := &recordSplitter{delim: toks[len(toks)-1].lit, body: toks[:len(toks)-1]}
	seen := map[byte]bool{}
	for i, t := range rs.body {
		if t.field == 0 {
			continue
		}
		if seen[t.field] {
			return nil, usagef("--format %q names %%%c twice", format, t.field)
		}
		seen[t.field] = true
		if i+1 < len(rs.body) && rs.body[i+1].field != 0 {
			return nil, usagef("--format %q: %%%c and %%%c need text between them", format, t.field, rs.body[i+1].field)
		}
	}
	if !seen['v'] {
		return nil, usagef("--format %q has no %%v", format)
	}
	return rs, nil
}

// has reports whether the format has the field f.
func (rs *recordSplitter) has(f byte) bool {
	for _, t := range rs.body {
		if t.field == f {
			return true
		}
	}
	return false
}

// split cuts one record (without its delimiter) into its fields.
func (rs *recordSplitter) split(rec []byte) (map[byte][]byte, error) {
	out := make(map[byte][]byte, 3)
	rest := rec
	for i, t := range rs.body {
		if t.field == 0 {
			if !bytes.HasPrefix(rest, []byte(t.lit)) {
				return nil, fmt.Errorf("does not match the format: %q expected", t.lit)
			}
			rest = rest[len(t.lit):]
			continue
		}
		if i+1 == len(rs.body) {
			out[t.field] = rest
			rest = nil
			continue
		}
		next := rs.body[i+1].lit
		j := bytes.Index(rest, []byte(next))
		if j < 0 {
			return nil, fmt.Errorf("does not match the format: no %q after %%%c", next, t.field)
		}
		out[t.field] = rest[:j]
		rest = rest[j:]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("does not match the format: %q left over", rest)
	}
	return out, nil
}
