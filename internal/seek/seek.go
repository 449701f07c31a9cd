// Package seek parses where a consumer-group offset reset goes: the targets
// shared by `zombi group seek --to` and `POST /consumers/{g}/reset`.
package seek

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the sort of target.
type Kind int

const (
	// Start is each partition's log start offset.
	Start Kind = iota + 1
	// End is each partition's high watermark.
	End
	// Offset is one absolute offset for every partition (clamped to the log).
	Offset
	// Time is the first offset whose timestamp is at or after TimeMs (the
	// high watermark when there is none), as Kafka's ListOffsets answers.
	Time
)

// Target is a parsed seek target.
type Target struct {
	Kind   Kind
	Offset int64 // Kind Offset
	TimeMs int64 // Kind Time, milliseconds since the Unix epoch
}

// String renders the target the way Parse reads it back.
func (t Target) String() string {
	switch t.Kind {
	case Start:
		return "start"
	case End:
		return "end"
	case Offset:
		return strconv.FormatInt(t.Offset, 10)
	case Time:
		return "@" + strconv.FormatInt(t.TimeMs, 10)
	}
	return "invalid"
}

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("seek target must be start, end, an offset, @timestamp (milliseconds or RFC 3339) or -DURATION / @-DURATION (like -1h30m or @-2d)")

// Parse reads start, end, OFFSET (>= 0), @TIMESTAMP (milliseconds since the
// epoch or RFC 3339) or -DURATION / @-DURATION (now minus a duration, e.g.
// -15m, @-1h, -1d12h: ParseDuration's units plus d for 24h), the same
// grammar as zombi consume -o for times.
func Parse(s string, now time.Time) (Target, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "start", "earliest", "beginning":
		return Target{Kind: Start}, nil
	case "end", "latest":
		return Target{Kind: End}, nil
	case "":
		return Target{}, fmt.Errorf("empty target: %w", ErrSyntax)
	}
	if rest, ok := strings.CutPrefix(s, "@-"); ok {
		s = "-" + rest // @-1h is -1h, as consume -o spells it
	} else if rest, ok := strings.CutPrefix(s, "@"); ok {
		ms, err := ParseTime(rest)
		if err != nil {
			return Target{}, fmt.Errorf("%q: %w", s, ErrSyntax)
		}
		return Target{Kind: Time, TimeMs: ms}, nil
	}
	if strings.HasPrefix(s, "-") {
		d, err := ParseDuration(s[1:])
		if err != nil || d <= 0 {
			return Target{}, fmt.Errorf("%q: %w", s, ErrSyntax)
		}
		return Target{Kind: Time, TimeMs: now.Add(-d).UnixMilli()}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return Target{}, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	return Target{Kind: Offset, Offset: n}, nil
}

// ParseDuration is time.ParseDuration with one more unit, d (24 hours), as
// people write retention and look-back windows: 2d, 1d12h, 1.5d.
func ParseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, 'd')
		if i < 0 {
			break
		}
		num := rest[:i]
		// The number before d must be all digits and dots (1d, 1.5d): a d
		// elsewhere is not a unit this function knows.
		if num == "" || strings.Trim(num, "0123456789.") != "" {
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		days, err := strconv.ParseFloat(num, 64)
		if err != nil || days > 106_000 { // time.Duration holds about 292 years
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		total += time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
	}
	if rest == "" {
		if rest == s {
			return 0, fmt.Errorf("empty duration")
		}
		return total, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return total + d, nil
}

// ParseTime reads milliseconds since the epoch or an RFC 3339 time.
func ParseTime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative timestamp %d", n)
		}
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return t.UnixMilli(), nil
}

// Resolve is the offset a target means for one partition, given its log
// start, high watermark and (for Kind Time) the offset ListOffsets found for
// the time (-1 when no record is that late). Offsets outside the log are
// clamped into it, as kafka-consumer-groups does.
func (t Target) Resolve(logStart, highWatermark, timeOffset int64) int64 {
	var o int64
	switch t.Kind {
	case Start:
		o = logStart
	case End:
		o = highWatermark
	case Offset:
		o = t.Offset
	case Time:
		o = timeOffset
		if o < 0 {
			o = highWatermark
		}
	}
	return min(max(o, logStart), highWatermark)
}
