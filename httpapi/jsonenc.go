package httpapi

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// Hand-written JSON encoding for the hot paths: responses are appended to a
// byte slice without reflection.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; callers that must not lose bytes check utf8.Valid first
// and use base64.
func appendString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var r rune
		var size int
		switch v := any(s).(type) {
		case string:
			r, size = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, size = utf8.DecodeRune(v[i:])
		}
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript; escape them
		// like encoding/json.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendBytesField appends `"name":value` where value is the bytes as a JSON
// string when they are valid UTF-8, else base64 followed by
// `,"name_encoding":"base64"`; nil is null.
func appendBytesField(b []byte, name string, v []byte) []byte {
	return appendBytesFieldAs(b, name, "", v)
}

// appendBytesFieldAs is appendBytesField with the encoding field named
// encName ("": name_encoding).
func appendBytesFieldAs(b []byte, name, encName string, v []byte) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	switch {
	case v == nil:
		return append(b, "null"...)
	case utf8.Valid(v):
		return appendString(b, v)
	default:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		b = append(b, `","`...)
		if encName == "" {
			b = append(b, name...)
			encName = "_encoding"
		}
		b = append(b, encName...)
		return append(b, `":"base64"`...)
	}
}

func appendIntField(b []byte, name string, v int64) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}
