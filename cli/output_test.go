package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/syncbuf"
)

// The bar shows a burst of records soon after it, not the first record's
// frame until the end.
func TestProgressBarRedrawsAfterABurst(t *testing.T) {
	var w syncbuf.Buffer
	bar := newProgressBar(&w, 10, "consuming", false)
	defer bar.Finish()
	for i := 0; i < 4; i++ {
		bar.Add(1) // inside one throttle interval
	}
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(w.String(), "(4/10") {
		if time.Now().After(deadline) {
			t.Fatalf("after a burst of 4 records the bar still shows:\n%q", w.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The first frames of a byte bar carry no absurd rate (64 KB read in a few
// microseconds is not GB/s).
func TestProgressBarNoSillyFirstRate(t *testing.T) {
	var w syncbuf.Buffer
	bar := newProgressBar(&w, 10<<20, "producing", true)
	_, _ = bar.Write(make([]byte, 64<<10))
	time.Sleep(3 * progressRedraw)
	_, _ = bar.Write(make([]byte, 64<<10))
	// The redraw runs on a clock: wait for the frame that shows the second
	// write (a loaded machine may draw it late), not a fixed time.
	deadline := time.Now().Add(5 * time.Second)
	out := w.String()
	for !strings.Contains(out, "128 kB") && !strings.Contains(out, "131 kB") {
		if time.Now().After(deadline) {
			t.Fatalf("the bar did not show the 128 KiB read:\n%q", out)
		}
		time.Sleep(20 * time.Millisecond)
		out = w.String()
	}
	bar.Finish()
	if regexp.MustCompile(`[GT]B/s`).MatchString(out) {
		t.Fatalf("a silly rate was drawn:\n%q", out)
	}
}
