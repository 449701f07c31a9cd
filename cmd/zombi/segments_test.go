package main

import (
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

// TestSegmentsCatMarker: `zombi segments cat` prints a transaction marker as
// a marker, not as a record with a binary key and value.
func TestSegmentsCatMarker(t *testing.T) {
	for _, c := range []struct {
		commit bool
		want   string
	}{
		{true, `{"control":"commit","offset":41,"partition":3,"timestamp_ms":1700000000000,"producer_id":7,"producer_epoch":2,"coordinator_epoch":5}`},
		{false, `{"control":"abort","offset":41,"partition":3,"timestamp_ms":1700000000000,"producer_id":7,"producer_epoch":2,"coordinator_epoch":5}`},
	} {
		raw := batch.Marker(7, 2, c.commit, 5, 1700000000000)
		batch.SetBaseOffset(raw, 41)
		h, recs, err := batch.Records(raw, 0)
		if err != nil || len(recs) != 1 || !h.IsControl() {
			t.Fatalf("marker: %v, %d records", err, len(recs))
		}
		if got := string(appendControl(nil, 3, h, &recs[0])); got != c.want {
			t.Fatalf("commit=%v:\n got %s\nwant %s", c.commit, got, c.want)
		}
	}
	// Another control record type: its type, no coordinator epoch.
	h := batch.Header{ProducerID: 1}
	r := batch.Record{Offset: 9, Key: []byte{0, 0, 0, 9}}
	if got, want := string(appendControl(nil, 0, h, &r)), `{"control":"unknown","type":9,"offset":9,"partition":0,"timestamp_ms":0,"producer_id":1,"producer_epoch":0}`; got != want {
		t.Fatalf("unknown control record:\n got %s\nwant %s", got, want)
	}
}
