package httpapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

// BenchmarkMessages: the message browser over 4 partitions of 25,000
// records each (batches of 100, 100-byte JSON values): a page of the
// newest, of the oldest, and a filter that matches nothing, which scans
// the whole budget (100,000 records).
func BenchmarkMessages(b *testing.B) {
	l, err := plog.Open(plog.Options{Dir: b.TempDir(), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	if _, err := l.CreateTopic("m", 4, nil); err != nil {
		b.Fatal(err)
	}
	ts := int64(1_700_000_000_000)
	for p := range int32(4) {
		for i := 0; i < 25000; i += 100 {
			bb := batch.NewBuilder()
			for j := i; j < i+100; j++ {
				bb.Add(ts+int64(j), []byte(fmt.Sprintf("key-%d", j)), []byte(fmt.Sprintf(`{"id":%d,"user":"u%d","event":"page_view","path":"/products/%d","ok":true}`, j, j%97, j%1000)), nil)
			}
			if res := l.Append(context.Background(), []plog.AppendRequest{{Topic: "m", Partition: p, Batch: append([]byte(nil), bb.Bytes()...)}}); res[0].Err != nil {
				b.Fatal(res[0].Err)
			}
		}
	}
	h := New(l, stats.New(), Config{}, discardLogger())
	for _, c := range []struct{ name, query string }{
		{"newest50", "limit=50"},
		{"oldest50", "from=oldest&limit=50"},
		{"filter-scan-100k", "from=oldest&q=no-such-text"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/tables/m/messages?"+c.query, nil))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body.Bytes())
				}
			}
		})
	}
}
