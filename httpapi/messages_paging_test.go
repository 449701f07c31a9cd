package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// TestMessagesPagingUnderBudget: following next_cursor gives every record
// (or every match) exactly once and ends, in both directions, over
// partitions whose timestamps go back and forth, whatever the scan budget.
// With a budget smaller than one read per partition, a read used to stop
// before every partition had its head and hand back the same cursor: empty
// pages for ever (a topic with more partitions than 100,000 records / 64
// would show no newest records at all).
func TestMessagesPagingUnderBudget(t *testing.T) {
	e := newEnv(t, Config{})
	const parts = 4
	if _, err := e.log.CreateTopic("p", parts, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	all, needles := map[string]bool{}, map[string]bool{}
	next := [parts]int64{}
	for bi := range 60 {
		p := int32(rng.IntN(parts))
		b := batch.NewBuilder()
		for i := range 1 + rng.IntN(8) {
			v := fmt.Sprintf("v%d-%d", bi, i)
			id := fmt.Sprintf("%d:%d", p, next[p])
			if rng.IntN(6) == 0 {
				v += "-needle"
				needles[id] = true
			}
			all[id] = true
			next[p]++
			b.Add(int64(rng.IntN(5000)), []byte(fmt.Sprintf("k%d-%d", bi, i)), []byte(v), nil)
		}
		if res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "p", Partition: p, Batch: append([]byte(nil), b.Bytes()...)}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	defer func(n int) { scanRecords = n }(scanRecords)
	for _, budget := range []int{MaxScanRecords, 7, 1} {
		scanRecords = budget
		for _, c := range []struct {
			path string
			want map[string]bool
		}{
			{"/tables/p/messages?from=newest&limit=7", all},
			{"/tables/p/messages?from=oldest&limit=13", all},
			{"/tables/p/messages?from=newest&limit=3&q=NEEDLE", needles},
			{"/tables/p/messages?from=oldest&limit=5&q=needle", needles},
		} {
			got := map[string]int{}
			pages := 0
			for path := c.path; ; pages++ {
				if pages > 4*len(all) {
					t.Fatalf("budget %d, %s: no end after %d pages (%d of %d records seen)", budget, c.path, pages, len(got), len(c.want))
				}
				page := e.messages(path)
				for _, r := range page.Records {
					got[fmt.Sprintf("%d:%d", r.Partition, r.Offset)]++
				}
				if page.NextCursor == nil {
					break
				}
				path = c.path + "&cursor=" + url.QueryEscape(*page.NextCursor)
			}
			var bad []string
			for id, n := range got {
				if n != 1 || !c.want[id] {
					bad = append(bad, fmt.Sprintf("%s x%d", id, n))
				}
			}
			for id := range c.want {
				if got[id] == 0 {
					bad = append(bad, id+" missing")
				}
			}
			if len(bad) > 0 {
				t.Errorf("budget %d, %s: %s", budget, c.path, strings.Join(bad, ", "))
			}
		}
	}
}

// TestMessagesPageBytes: a page stops at the record that reaches
// maxMessagesBytes, whatever limit says, and next_cursor goes on from
// there: paging still gives every record exactly once. (Before, limit=500
// over large records built one answer of 500 times the record size.)
func TestMessagesPageBytes(t *testing.T) {
	defer func(n int) { maxMessagesBytes = n }(maxMessagesBytes)
	maxMessagesBytes = 10 << 10
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("big", 2, nil); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("x", 4<<10)
	for i := range 20 {
		e.write("big", fmt.Sprintf(`{"payload":%q,"key":"k%d","partition":%d,"timestamp_ms":%d}`, value, i, i%2, 1000+i))
	}
	for _, from := range []string{"newest", "oldest"} {
		path := "/tables/big/messages?limit=500&from=" + from
		first := e.messages(path)
		if len(first.Records) != 3 || first.NextCursor == nil {
			t.Fatalf("from=%s: a first page of %d records (cursor %v), want 3 (12 KiB reach the 10 KiB bound) and a cursor", from, len(first.Records), first.NextCursor != nil)
		}
		recs, pages := e.allMessages(path)
		seen := map[string]bool{}
		for _, r := range recs {
			id := fmt.Sprintf("%d:%d", r.Partition, r.Offset)
			if seen[id] {
				t.Fatalf("from=%s: %s twice", from, id)
			}
			seen[id] = true
		}
		if len(seen) != 20 || pages != 7 {
			t.Fatalf("from=%s: %d records in %d pages, want 20 in 7", from, len(seen), pages)
		}
	}
}
