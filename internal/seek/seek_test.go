package seek

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	ok := []struct {
		in   string
		want Target
	}{
		{"start", Target{Kind: Start}},
		{"earliest", Target{Kind: Start}},
		{"END", Target{Kind: End}},
		{"42", Target{Kind: Offset, Offset: 42}},
		{"0", Target{Kind: Offset}},
		{"@1700000000000", Target{Kind: Time, TimeMs: 1700000000000}},
		{"@2023-11-14T22:13:20Z", Target{Kind: Time, TimeMs: 1700000000000}},
		{"-1h", Target{Kind: Time, TimeMs: 1_000_000_000 - 3600_000}},
		{" -90s ", Target{Kind: Time, TimeMs: 1_000_000_000 - 90_000}},
		{"@-1h", Target{Kind: Time, TimeMs: 1_000_000_000 - 3600_000}},
		{"-1d", Target{Kind: Time, TimeMs: 1_000_000_000 - 86_400_000}},
		{"@-2d", Target{Kind: Time, TimeMs: 1_000_000_000 - 2*86_400_000}},
		{"-1d12h", Target{Kind: Time, TimeMs: 1_000_000_000 - 36*3600_000}},
	}
	for _, c := range ok {
		got, err := Parse(c.in, now)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "-", "-0s", "-5", "@", "@yesterday", "@-1", "x", "1.5", "-1h-", "@-", "@-0s", "-d", "-1dd", "-1h2d", "@-x1d", "-999999d"} {
		if got, err := Parse(bad, now); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrSyntax", bad, got, err)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		t                  Target
		start, hwm, timeOf int64
		want               int64
	}{
		{Target{Kind: Start}, 5, 10, -1, 5},
		{Target{Kind: End}, 5, 10, -1, 10},
		{Target{Kind: Offset, Offset: 7}, 5, 10, -1, 7},
		{Target{Kind: Offset, Offset: 2}, 5, 10, -1, 5},
		{Target{Kind: Offset, Offset: 99}, 5, 10, -1, 10},
		{Target{Kind: Time, TimeMs: 1}, 5, 10, 8, 8},
		{Target{Kind: Time, TimeMs: 1}, 5, 10, -1, 10},
	}
	for _, c := range cases {
		if got := c.t.Resolve(c.start, c.hwm, c.timeOf); got != c.want {
			t.Errorf("%v.Resolve(%d, %d, %d) = %d, want %d", c.t, c.start, c.hwm, c.timeOf, got, c.want)
		}
	}
	for _, s := range []string{"start", "end", "12", "@17"} {
		tg, _ := Parse(s, time.Now())
		if back, err := Parse(tg.String(), time.Now()); err != nil || back != tg {
			t.Errorf("round trip %q: %+v %v", s, back, err)
		}
	}
}
