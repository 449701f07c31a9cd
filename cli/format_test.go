package cli

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/seek"
)

func TestRecordSplitter(t *testing.T) {
	for _, tc := range []struct {
		format, in string
		want       []map[byte]string
	}{
		{`%v\n`, "a\nb\n\nc", []map[byte]string{{'v': "a"}, {'v': "b"}, {'v': ""}, {'v': "c"}}},
		{`%k\t%v\n`, "k1\tv\t1\nk2\t\n", []map[byte]string{{'k': "k1", 'v': "v\t1"}, {'k': "k2", 'v': ""}}},
		{`%p:%k=%v;`, "0:a=1;1:b=2;", []map[byte]string{{'p': "0", 'k': "a", 'v': "1"}, {'p': "1", 'k': "b", 'v': "2"}}},
		{`[%v]\n`, "[x]\n", []map[byte]string{{'v': "x"}}},
		{`%v%%\n`, "50%\n", []map[byte]string{{'v': "50"}}},
	} {
		rs, err := newRecordSplitter(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		sc := bufio.NewScanner(strings.NewReader(tc.in))
		sc.Split(splitOn([]byte(rs.delim)))
		var got []map[byte]string
		for sc.Scan() {
			f, err := rs.split(sc.Bytes())
			if err != nil {
				t.Fatalf("%q on %q: %v", tc.format, sc.Text(), err)
			}
			m := map[byte]string{}
			for k, v := range f {
				m[k] = string(v)
			}
			got = append(got, m)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%q: %v, want %v", tc.format, got, tc.want)
		}
		for i := range got {
			for k, v := range tc.want[i] {
				if got[i][k] != v {
					t.Fatalf("%q record %d: %v, want %v", tc.format, i, got[i], tc.want[i])
				}
			}
		}
	}
	rs, _ := newRecordSplitter(`[%v]\n`)
	if _, err := rs.split([]byte("x]")); err == nil {
		t.Fatal("a record not matching the format was accepted")
	}
	for _, bad := range []string{`%v`, `%k%v\n`, `%x\n`, `%k\n`, `%v\q\n`, `%v\n%`, `%v,%v\n`} {
		if _, err := newRecordSplitter(bad); err == nil {
			t.Errorf("format %q accepted", bad)
		} else if !errors.As(err, new(usageError)) {
			t.Errorf("format %q: %v is not a usage error", bad, err)
		}
	}
}

func TestParseStart(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	// logStart 10, high watermark 100, the time lookup found 40.
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"start", 10}, {"end", 100}, {"50", 50}, {"5", 10}, {"500", 100},
		{"-5", 95}, {"-500", 10}, {"@1000", 40}, {"@-1h", 40}, {"@2026-01-01T00:00:00Z", 40},
	} {
		sp, err := parseStart(tc.in, now)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := sp.resolve(10, 100, 40); got != tc.want {
			t.Errorf("-o %s: offset %d, want %d", tc.in, got, tc.want)
		}
	}
	for in, d := range map[string]time.Duration{"@-2d": 48 * time.Hour, "-1d": 24 * time.Hour, "@-1d12h": 36 * time.Hour} {
		if sp, err := parseStart(in, now); err != nil || sp.target.Kind != seek.Time || sp.target.TimeMs != now.Add(-d).UnixMilli() {
			t.Errorf("-o %s: %+v %v", in, sp.target, err)
		}
	}
	if sp, _ := parseStart("@-1h", now); sp.target.Kind != seek.Time || sp.target.TimeMs != now.Add(-time.Hour).UnixMilli() {
		t.Errorf("@-1h: %+v", sp.target)
	}
	// No record that late: the end.
	if sp, _ := parseStart("@1000", now); sp.resolve(10, 100, -1) != 100 {
		t.Error("@TIME after every record does not resolve to the end")
	}
	for _, bad := range []string{"", "soon", "@", "@-", "@-x", "-0", "1.5"} {
		if _, err := parseStart(bad, now); err == nil {
			t.Errorf("-o %q accepted", bad)
		}
	}
}

// Any format and input: an error or fields whose pieces rebuild the
// record, never a panic.
func FuzzRecordSplitter(f *testing.F) {
	f.Add(`%k\t%v\n`, []byte("k\tv"))
	f.Add(`%p:%k=%v;`, []byte("1:a=b"))
	f.Add(`[%v]\n`, []byte("[x]"))
	f.Add(`%v%%\n`, []byte("50"))
	f.Add(`%`, []byte(""))
	f.Fuzz(func(t *testing.T, format string, rec []byte) {
		rs, err := newRecordSplitter(format)
		if err != nil {
			return
		}
		fields, err := rs.split(rec)
		if err != nil {
			return
		}
		var rebuilt []byte
		for _, tok := range rs.body {
			if tok.field == 0 {
				rebuilt = append(rebuilt, tok.lit...)
			} else {
				rebuilt = append(rebuilt, fields[tok.field]...)
			}
		}
		if string(rebuilt) != string(rec) {
			t.Fatalf("format %q split %q into %q, which rebuilds %q", format, rec, fields, rebuilt)
		}
	})
}
