package iceberg

import (
	"context"
	"fmt"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// BenchmarkMaterialize is the whole materializer in one process: records
// of 100 bytes (keys of 10, one header) in 4 partitions, read from the log
// and committed to a table in a local directory. b.N is records. Values
// are distinct pseudo-random printable text (about as compressible as
// base64), not one value repeated: zstd would fold those to nothing.
func BenchmarkMaterialize(b *testing.B) {
	l, err := plog.Open(plog.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic("bench", 4, nil); err != nil {
		b.Fatal(err)
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	x := uint64(88172645463325252)
	value := make([]byte, 100)
	for done := 0; done < b.N; {
		var reqs []plog.AppendRequest
		for p := int32(0); p < 4 && done < b.N; p++ {
			bb := batch.NewBuilder()
			for i := 0; i < 1000 && done < b.N; i++ {
				for j := range value {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					value[j] = alphabet[x&63]
				}
				bb.Add(time.Now().UnixMilli(), []byte(fmt.Sprintf("key-%06d", done%1000000)), value, []batch.RecordHeader{{Key: "h", Value: []byte("v")}})
				done++
			}
			reqs = append(reqs, plog.AppendRequest{Topic: "bench", Partition: p, Batch: bb.Bytes()})
		}
		for _, r := range l.Append(context.Background(), reqs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	w, err := OpenWarehouse(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ti, _ := l.Topic("bench")
	if _, err := l.SetTopicConfigs("bench", ti.UUID, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100000"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	m := Start(l, Config{Warehouse: w, SpillDir: b.TempDir(), Poll: 5 * time.Millisecond})
	defer m.Close()
	for {
		st, err := m.Status(context.Background(), "bench")
		if err == nil && st.Records == int64(b.N) {
			break
		}
		if st.Error != "" {
			b.Fatal(st.Error)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
