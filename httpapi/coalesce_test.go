package httpapi

import (
	"fmt"
	"sync"
	"testing"
)

// TestCoalescedWritesLandWhereAcknowledged: many concurrent single writes
// over tables, partitions and idempotency keys; every acknowledged offset
// holds that request's payload, offsets are contiguous and nothing is
// written twice.
func TestCoalescedWritesLandWhereAcknowledged(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 3})
	const clients, perClient = 24, 40
	type ack struct {
		table, payload string
		part           int32
		off            int64
	}
	acks := make([][]ack, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				table := fmt.Sprintf("co%d", (c/2+i)%2) // twins c and c^1 share tables
				payload := fmt.Sprintf("c%d-i%d", c, i)
				body := fmt.Sprintf(`{"payload":%q}`, payload)
				switch i % 4 {
				case 1:
					body = fmt.Sprintf(`{"payload":%q,"key":"k%d"}`, payload, c)
				case 2:
					body = fmt.Sprintf(`{"payload":%q,"partition":%d}`, payload, c%3)
				case 3: // the same key from two clients at once: one write
					body = fmt.Sprintf(`{"payload":%q,"idempotency_key":"id-%d-%d"}`, payload, c/2, i)
				}
				code, m := e.doJSON("POST", "/tables/"+table, body)
				if code != 202 {
					t.Errorf("%d %v", code, m)
					return
				}
				acks[c] = append(acks[c], ack{table, payload, int32(num(m["partition"])), num(m["offset"])})
			}
		}()
	}
	wg.Wait()
	stored := map[string]string{} // table/part/offset -> payload
	var total int
	for _, table := range []string{"co0", "co1"} {
		for p := int32(0); p < 3; p++ {
			for i, r := range e.readBack(table, p) {
				if r.Offset != int64(i) {
					t.Fatalf("%s/%d: offset %d at index %d", table, p, r.Offset, i)
				}
				stored[fmt.Sprintf("%s/%d/%d", table, p, r.Offset)] = string(r.Value)
				total++
			}
		}
	}
	want := clients * perClient * 3 / 4
	want += clients * perClient / 4 / 2 // idempotent writes: one per pair of clients
	if total != want {
		t.Fatalf("%d records stored, want %d", total, want)
	}
	for c := range clients {
		for i, a := range acks[c] {
			got := stored[fmt.Sprintf("%s/%d/%d", a.table, a.part, a.off)]
			if i%4 == 3 {
				// Either this client's or its twin's payload: the first write wins.
				twin := fmt.Sprintf("c%d-i%d", c^1, i)
				if got != a.payload && got != twin {
					t.Fatalf("idempotent %s at %s/%d/%d holds %q", a.payload, a.table, a.part, a.off, got)
				}
				continue
			}
			if got != a.payload {
				t.Fatalf("%s acknowledged at %s/%d/%d, which holds %q", a.payload, a.table, a.part, a.off, got)
			}
		}
	}
}

// TestCoalescedBatchesStayBounded: big concurrent writes are not merged
// into one huge batch.
func TestCoalescedBatchesStayBounded(t *testing.T) {
	e := newEnv(t, Config{})
	if _, _, err := e.log.EnsureTopic("big", 1); err != nil {
		t.Fatal(err)
	}
	co := newCoalescer(e.log)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := &event{value: make([]byte, 400<<10), ts: int64(i), partition: -1}
			if res := co.write("big", 0, ev); res.Err != nil {
				t.Error(res.Err)
			}
		}()
	}
	wg.Wait()
	rr, err := e.log.Read("big", 0, 0, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	records := int64(0)
	for _, b := range rr.Batches {
		if len(b.Raw) > maxCoalesceBytes+maxCoalesceBytes/2 {
			t.Errorf("batch of %d bytes (%d records)", len(b.Raw), b.LastOffset-b.BaseOffset+1)
		}
		records += b.LastOffset - b.BaseOffset + 1
	}
	if records != n || rr.HighWatermark != n {
		t.Fatalf("%d records, hwm %d", records, rr.HighWatermark)
	}
	if co.appends.Load() == 0 || co.events.Load() != n {
		t.Fatalf("appends %d events %d", co.appends.Load(), co.events.Load())
	}
}
