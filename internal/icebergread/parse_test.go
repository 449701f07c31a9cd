package icebergread

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseRows: the JSON lines the scripts print, including a json-mode
// row (value as text), typed columns of every type, nulls and empties.
func TestParseRows(t *testing.T) {
	out := `{"partition":3,"offset":"9007199254740993","timestamp_us":"-1500","key":null,"headers":[{"key":"h","value":"/wA="},{"key":"n","value":null}],"text":"{\"a\":1}","extra":{` +
		`"s":{"t":"string","v":"x"},"l":{"t":"long","v":"-9007199254740993"},"i":{"t":"int","v":7},"d":{"t":"double","v":1.5},` +
		`"b":{"t":"boolean","v":true},"ts":{"t":"timestamptz","v":"1796515198000123"},"bin":{"t":"binary","v":""},"z":{"t":"string","v":null}}}
{"partition":0,"offset":"0","timestamp_us":"0","key":"","headers":[],"value":"","extra":{}}
`
	rows, err := parseRows([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	text := `{"a":1}`
	want := []Row{{
		Partition: 3, Offset: 9007199254740993, TimestampMs: -2,
		Headers: []Header{{Key: "h", Value: []byte{0xff, 0x00}}, {Key: "n"}},
		Text:    &text,
		Extra: map[string]any{"s": "x", "l": int64(-9007199254740993), "i": int64(7), "d": 1.5, "b": true,
			"ts": time.UnixMicro(1796515198000123).UTC(), "bin": []byte{}, "z": nil},
	}, {Key: []byte{}, Value: []byte{}}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got  %#v\nwant %#v", rows, want)
	}
	if rows[0].Key != nil || rows[0].Value != nil || rows[1].Key == nil || rows[1].Value == nil {
		t.Fatal("null and empty mixed up")
	}

	for _, bad := range []string{
		`{"offset":"1","timestamp_us":"1"}`,
		`{"partition":0,"offset":"x","timestamp_us":"1"}`,
		`{"partition":0,"offset":"1","timestamp_us":"1","key":"%%"}`,
		`{"partition":0,"offset":"1","timestamp_us":"1","extra":{"a":{"t":"decimal(9,2)","v":1}}}`,
		`not json`,
	} {
		if _, err := parseRows([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: error %v, want one naming line 1", bad, err)
		}
	}
}

func TestByOffset(t *testing.T) {
	m, err := ByOffset([]Row{{Partition: 1, Offset: 2}, {Partition: 2, Offset: 2}})
	if err != nil || len(m) != 2 || m[PO{2, 2}].Partition != 2 {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := ByOffset([]Row{{Partition: 1, Offset: 2}, {Partition: 1, Offset: 2}}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate: %v", err)
	}
}
