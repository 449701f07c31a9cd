package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sample() []byte {
	b := NewBuilder()
	b.Add(1000, []byte("k0"), []byte("v0"), []RecordHeader{{Key: "h", Value: []byte("1")}})
	b.Add(1005, nil, []byte("v1"), nil)
	b.Add(999, []byte{}, nil, []RecordHeader{{Key: "x", Value: nil}})
	return append([]byte(nil), b.Bytes()...)
}

func TestBuilderMatchesKmsg(t *testing.T) {
	raw := sample()
	h, err := Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 3 || h.LastOffsetDelta != 2 || h.FirstTimestamp != 1000 || h.MaxTimestamp != 1005 || h.ProducerID != -1 {
		t.Fatalf("header %+v", h)
	}
	// kmsg, the library clients use, reads the same batch and records.
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	if int32(h.CRC) != kb.CRC || kb.NumRecords != 3 {
		t.Fatalf("kmsg batch %+v", kb)
	}
	recs := kb.Records
	var got []kmsg.Record
	for i := 0; i < 3; i++ {
		var r kmsg.Record
		length, n := binary.Varint(recs)
		if err := r.ReadFrom(recs[:n+int(length)]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
		recs = recs[n+int(length):]
	}
	if string(got[0].Key) != "k0" || string(got[0].Value) != "v0" || got[0].Headers[0].Key != "h" || got[1].TimestampDelta64 != 5 || got[2].TimestampDelta64 != -1 || got[2].Value != nil {
		t.Fatalf("kmsg records %+v", got)
	}
	_, mine, err := Records(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if mine[0].Key == nil || string(mine[0].Key) != "k0" || mine[1].Key != nil || mine[2].Key == nil || len(mine[2].Key) != 0 || mine[2].Value != nil {
		t.Fatalf("nil vs empty keys/values not kept: %+v", mine)
	}
	if mine[2].Timestamp != 999 || mine[1].Offset != 1 || mine[2].Headers[0].Value != nil {
		t.Fatalf("records %+v", mine)
	}
}

func TestSetBaseOffsetKeepsCRC(t *testing.T) {
	raw := sample()
	SetBaseOffset(raw, 12345)
	h, err := Validate(raw)
	if err != nil || h.BaseOffset != 12345 || h.LastOffset() != 12347 {
		t.Fatalf("%+v %v", h, err)
	}
	_, recs, _ := Records(raw, 0)
	if recs[0].Offset != 12345 || recs[2].Offset != 12347 {
		t.Fatalf("offsets %+v", recs)
	}
}

func TestValidateRejects(t *testing.T) {
	good := sample()
	flip := func(i int) []byte { b := append([]byte(nil), good...); b[i] ^= 1; return b }
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"short":     {good[:20], ErrTooShort},
		"truncated": {good[:len(good)-1], ErrBadLength},
		"trailing":  {append(append([]byte(nil), good...), 0), ErrBadLength},
		"magic":     {flip(16), ErrBadMagic},
		"crc":       {flip(len(good) - 1), ErrBadCRC},
		"attrs":     {flip(22), ErrBadCRC},
	}
	for name, c := range cases {
		if _, err := Validate(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	a, b := sample(), sample()
	parts, err := Split(append(append([]byte(nil), a...), b...))
	if err != nil || len(parts) != 2 || !bytes.Equal(parts[1], b) {
		t.Fatalf("%d %v", len(parts), err)
	}
	if _, err := Split(append(append([]byte(nil), a...), b[:30]...)); err == nil {
		t.Fatal("partial trailing batch accepted")
	}
}

// recompress returns raw with its records compressed by codec, as a Kafka
// client would produce it.
func recompress(t *testing.T, raw []byte, data []byte, codec int16) []byte {
	t.Helper()
	out := append([]byte(nil), raw[:HeaderSize]...)
	out = append(out, data...)
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-12))
	attrs := int16(binary.BigEndian.Uint16(out[offAttributes:]))&^CompressionMask | codec
	binary.BigEndian.PutUint16(out[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out
}

func TestSetLogAppendTime(t *testing.T) {
	raw := sample()
	SetLogAppendTime(raw, 777000)
	h, err := Validate(raw)
	if err != nil || h.MaxTimestamp != 777000 || h.Attributes&TimestampTypeMask == 0 || h.Codec() != CodecNone {
		t.Fatalf("%+v %v", h, err)
	}
	_, recs, err := Records(raw, 0)
	if err != nil || len(recs) != 3 || recs[0].Timestamp != 777000 || recs[2].Timestamp != 777000 || string(recs[0].Value) != "v0" {
		t.Fatalf("records %+v %v", recs, err)
	}
}

func TestCompressedBatches(t *testing.T) {
	raw := sample()
	body := raw[HeaderSize:]
	codecs := map[string]kgo.CompressionCodec{"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	for name, codec := range codecs {
		c, err := kgo.DefaultCompressor(codec)
		if err != nil {
			t.Fatal(err)
		}
		comp, typ := c.Compress(new(bytes.Buffer), body)
		cb := recompress(t, raw, append([]byte(nil), comp...), int16(typ))
		if _, err := Validate(cb); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, recs, err := Records(cb, 0)
		if err != nil || len(recs) != 3 || string(recs[0].Value) != "v0" || recs[1].Timestamp != 1005 {
			t.Fatalf("%s: %+v %v", name, recs, err)
		}
	}
	// Java's xerial-framed snappy.
	x := append([]byte(nil), xerialMagic...)
	x = append(x, 0, 0, 0, 1, 0, 0, 0, 1)
	half := len(body) / 2
	for _, chunk := range [][]byte{body[:half], body[half:]} {
		enc := s2.EncodeSnappy(nil, chunk)
		x = binary.BigEndian.AppendUint32(x, uint32(len(enc)))
		x = append(x, enc...)
	}
	_, recs, err := Records(recompress(t, raw, x, CodecSnappy), 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("xerial: %v", err)
	}
}

func TestDecompressionBombRefused(t *testing.T) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(make([]byte, 32<<20))
	_ = w.Close()
	cb := recompress(t, sample(), buf.Bytes(), CodecGzip)
	if _, _, err := Records(cb, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	if _, _, err := Records(recompress(t, sample(), []byte("junk"), 7), 0); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("codec 7: %v", err)
	}
}

func FuzzRecords(f *testing.F) {
	f.Add(sample())
	raw := sample()
	f.Add(recompress(&testing.T{}, raw, raw[HeaderSize:len(raw)-3], CodecNone))
	for i := 0; i < 3; i++ {
		f.Add([]byte(fmt.Sprint(i)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := Records(b, 1<<20)
		if err != nil {
			return
		}
		if len(recs) != int(h.NumRecords) {
			t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
		}
		_, _ = Validate(b)
		_, _ = Split(b)
	})
}

func TestOneRecordSize(t *testing.T) {
	for _, tc := range []struct {
		key, value []byte
		headers    []RecordHeader
	}{
		{nil, nil, nil},
		{[]byte("k"), []byte("value"), nil},
		{nil, make([]byte, 300), []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "x", Value: nil}}},
		{make([]byte, 70000), make([]byte, 1<<20), nil},
	} {
		b := NewBuilder()
		b.Add(12345, tc.key, tc.value, tc.headers)
		if got, want := OneRecordSize(tc.key, tc.value, tc.headers), len(b.Bytes()); got != want {
			t.Errorf("OneRecordSize %d, built %d", got, want)
		}
	}
}
