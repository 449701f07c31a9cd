package httpapi

import (
	"bytes"
	"slices"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
	eventpb "github.com/zombi-dev/zombi/proto"
	"google.golang.org/protobuf/proto"
)

func sameEvent(a, b event) bool {
	return bytes.Equal(a.value, b.value) && (a.value == nil) == (b.value == nil) &&
		bytes.Equal(a.key, b.key) && (a.key == nil) == (b.key == nil) &&
		a.ts == b.ts && a.idemKey == b.idemKey && a.partition == b.partition &&
		slices.EqualFunc(a.headers, b.headers, func(x, y batch.RecordHeader) bool {
			return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
		})
}

// FuzzDecodeJSONEvent: the JSON body decoders never panic, the fast path
// agrees with encoding/json whenever it accepts a body, and what decodes is
// a well-formed event.
func FuzzDecodeJSONEvent(f *testing.F) {
	for _, s := range []string{
		`{"payload": "hello world"}`,
		`{"payload":{"a":[1,2,{"b":null}]},"key":"k","headers":{"x":"y","a":"b"},"timestamp_ms":1704067200000,"idempotency_key":"id","partition":3}`,
		`{"payload":"\u00e9\n","key":null,"partition":null,"timestamp_ms":null,"headers":null,"idempotency_key":null}`,
		`{"payload":"x","payload":"y"}`,
		`{"Payload":"x","KEY":"k"}`,
		`{"payload":"x","timestamp_ms":-0,"partition":2147483648}`,
		`{"payload":"x","headers":{"a":"1","a":"2"}}`,
		`{"records":[{"payload":"a"},{"payload":"b","partition":1,"idempotency_key":"k"}]}`,
		` {"records" : [ {"payload":"a","key":"k","headers":{"h":"v"},"timestamp_ms":5} , {"payload":"b"} ] } `,
		`{"records":[{"payload":"a"},{"key":"b"}]}`,
		`{"records":[{"payload":"a","partition":-3}]}`,
		`{"records":[]}`,
		`{"records":[{}],"records":[{"payload":"x"}]}`,
		`{"payload":12.5e3}`,
		"{\"payload\":\"\xff\"}",
		` { "payload" : "x" } `,
		`{"payload":"x"} trailing`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := decodeJSONEvent(body)
		slow, slowErr := slowDecodeJSONEvent(body)
		if (err == nil) != (slowErr == nil) || (err != nil && err.Error() != slowErr.Error()) {
			t.Fatalf("fast path error %v, encoding/json error %v", err, slowErr)
		}
		if err == nil {
			if !sameEvent(ev, slow) {
				t.Fatalf("fast path %+v, encoding/json %+v", ev, slow)
			}
			if ev.value == nil || ev.ts < -1 || ev.partition < -1 || len(ev.idemKey) > MaxIdempotencyKeyBytes {
				t.Fatalf("bad event %+v", ev)
			}
			if !slices.IsSortedFunc(ev.headers, func(a, b batch.RecordHeader) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) }) {
				t.Fatalf("headers not sorted: %v", ev.headers)
			}
		} else if statusOf(err) != 400 {
			t.Fatalf("status %d for %v", statusOf(err), err)
		}
		evs, err := decodeJSONBulk(body)
		slowEvs, slowErr := slowDecodeJSONBulk(body)
		if (err == nil) != (slowErr == nil) || (err != nil && err.Error() != slowErr.Error()) {
			t.Fatalf("bulk: fast path error %v, encoding/json error %v", err, slowErr)
		}
		if err == nil {
			if len(evs) == 0 || len(evs) > MaxBulkRecords || !slices.EqualFunc(evs, slowEvs, sameEvent) {
				t.Fatalf("bulk: fast path %+v, encoding/json %+v", evs, slowEvs)
			}
		} else if statusOf(err) != 400 {
			t.Fatalf("status %d for %v", statusOf(err), err)
		}
	})
}

// FuzzDecodeProtobufEvent: the protobuf decoder never panics, and what it
// accepts round-trips.
func FuzzDecodeProtobufEvent(f *testing.F) {
	for _, e := range []*eventpb.Event{
		{Payload: []byte("hello")},
		{Payload: []byte{0, 0xff}, TimestampMs: 1704067200000, IdempotencyKey: "k", Headers: map[string]string{"a": "b", "c": ""}},
		{TimestampMs: -5},
	} {
		b, err := proto.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "2")
	}
	f.Add([]byte{0xff, 0xff}, "x")
	f.Add([]byte{}, "-1")
	f.Fuzz(func(t *testing.T, body []byte, xPartition string) {
		ev, err := decodeProtobufEvent(body, xPartition)
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("status %d for %v", statusOf(err), err)
			}
			return
		}
		var pe eventpb.Event
		if err := proto.Unmarshal(body, &pe); err != nil {
			t.Fatalf("decoder accepted what proto rejects: %v", err)
		}
		if !bytes.Equal(ev.value, pe.Payload) || ev.value == nil || ev.key != nil || ev.idemKey != pe.IdempotencyKey || len(ev.headers) != len(pe.Headers) {
			t.Fatalf("%+v vs %+v", ev, &pe)
		}
		if ev.ts < -1 || ev.partition < -1 || (xPartition == "") != (ev.partition == -1) {
			t.Fatalf("ts %d partition %d for X-Partition %q", ev.ts, ev.partition, xPartition)
		}
	})
}
