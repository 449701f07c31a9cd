// Package batch reads and writes Kafka record batches (magic v2), the unit of
// storage of Zombi's partition log. Batches are kept exactly as a producer sent
// them; only the base offset (outside the CRC) is rewritten on append.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// HeaderSize is the size of the v2 batch header up to and including the
// record count.
const HeaderSize = 61

// Offsets of header fields within a v2 batch.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// Attribute bits.
const (
	CompressionMask   = 0x07
	TimestampTypeMask = 0x08
	TransactionalMask = 0x10
	ControlMask       = 0x20
)

// Compression codecs (attribute bits 0-2).
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned while validating a batch.
var (
	ErrTooShort    = errors.New("record batch shorter than its header")
	ErrBadLength   = errors.New("record batch length field does not match its size")
	ErrBadMagic    = errors.New("record batch magic is not 2")
	ErrBadCRC      = errors.New("record batch CRC mismatch")
	ErrBadCount    = errors.New("record batch record count does not match last offset delta")
	ErrBadRecords  = errors.New("malformed records in batch")
	ErrUnsupported = errors.New("unsupported compression codec")
	ErrTooLarge    = errors.New("decompressed batch exceeds limit")
)

// Header is the decoded fixed part of a v2 record batch.
type Header struct {
	BaseOffset      int64
	Length          int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Codec is the compression codec of the batch.
func (h Header) Codec() int { return int(h.Attributes & CompressionMask) }

// IsControl reports whether the batch holds transaction control records.
func (h Header) IsControl() bool { return h.Attributes&ControlMask != 0 }

// IsTransactional reports whether the batch belongs to a transaction.
func (h Header) IsTransactional() bool { return h.Attributes&TransactionalMask != 0 }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the batch's total size in bytes.
func (h Header) Size() int { return int(h.Length) + 12 }

// ReadHeader decodes the header of the batch at the start of b without
// checking the CRC. b may hold more than one batch.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrTooShort
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:      int64(be.Uint64(b[offBaseOffset:])),
		Length:          int32(be.Uint32(b[offLength:])),
		LeaderEpoch:     int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:           int8(b[offMagic]),
		CRC:             be.Uint32(b[offCRC:]),
		Attributes:      int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:  int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:      int32(be.Uint32(b[offRecordCount:])),
	}
	if h.Magic != 2 {
		return h, ErrBadMagic
	}
	if h.Length < HeaderSize-12 || int64(h.Length)+12 > int64(len(b)) {
		return h, ErrBadLength
	}
	return h, nil
}

// Validate checks that b is exactly one well-formed v2 batch: length, magic,
// CRC-32C and a record count consistent with the last offset delta.
func Validate(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, ErrBadLength
	}
	if crc32.Checksum(b[offAttributes:], castagnoli) != h.CRC {
		return h, ErrBadCRC
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta < h.NumRecords-1 || h.LastOffsetDelta < 0 {
		return h, ErrBadCount
	}
	return h, nil
}

// Split splits a concatenation of batches (a Produce request's record set)
// into its batches, validating each.
func Split(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		h, err := ReadHeader(b)
		if err != nil {
			return nil, err
		}
		one := b[:h.Size()]
		if _, err := Validate(one); err != nil {
			return nil, err
		}
		out = append(out, one)
		b = b[h.Size():]
	}
	return out, nil
}

// SetBaseOffset rewrites the base offset of the batch in place. The base
// offset is outside the CRC, so the batch stays valid.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetLeaderEpoch rewrites the partition leader epoch of the batch in place,
// as a Kafka leader stamps its epoch on every batch it appends. The field is
// outside the CRC, so the batch stays valid.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime makes the batch's timestamps the broker's append time
// ts, in place, as Kafka does for a topic with
// message.timestamp.type=LogAppendTime: the timestamp-type attribute is set,
// MaxTimestamp becomes ts (readers give every record that time), and the CRC
// is recomputed. The records, compressed or not, are left as they are.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	be.PutUint16(b[offAttributes:], be.Uint16(b[offAttributes:])|TimestampTypeMask)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// RecordHeader is a record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one decoded record with its absolute offset and timestamp.
type Record struct {
	Offset    int64
	Timestamp int64  // ms
	Key       []byte // nil when the record has no key
	Value     []byte // nil for a tombstone
	Headers   []RecordHeader
}

// Builder encodes an uncompressed v2 batch. The zero value is ready to use;
// Reset lets one Builder be reused without allocating.
type Builder struct {
	buf      []byte
	n        int32
	firstTS  int64
	maxTS    int64
	producer struct {
		id    int64
		epoch int16
		seq   int32
	}
}

// NewBuilder returns a builder for a batch without a producer id.
func NewBuilder() *Builder {
	b := &Builder{}
	b.Reset()
	return b
}

// Reset clears the builder for a new batch.
func (b *Builder) Reset() {
	b.buf = append(b.buf[:0], make([]byte, HeaderSize)...)
	b.n = 0
	b.producer.id, b.producer.epoch, b.producer.seq = -1, -1, -1
}

// SetProducer sets the idempotent producer fields of the batch.
func (b *Builder) SetProducer(id int64, epoch int16, baseSeq int32) {
	b.producer.id, b.producer.epoch, b.producer.seq = id, epoch, baseSeq
}

// Len is the number of records added so far.
func (b *Builder) Len() int { return int(b.n) }

// Add appends a record. Timestamps are milliseconds; the first record's
// timestamp becomes the batch's base timestamp.
func (b *Builder) Add(ts int64, key, value []byte, headers []RecordHeader) {
	if b.n == 0 {
		b.firstTS, b.maxTS = ts, ts
	}
	if ts > b.maxTS {
		b.maxTS = ts
	}
	// Body: attributes, timestamp delta, offset delta, key, value, headers.
	var body [64]byte
	bd := body[:0]
	bd = append(bd, 0)
	bd = binary.AppendVarint(bd, ts-b.firstTS)
	bd = binary.AppendVarint(bd, int64(b.n))
	size := len(bd) + varbytesLen(key) + varbytesLen(value) + varintLen(int64(len(headers)))
	for _, h := range headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + varbytesLen(h.Value)
	}
	b.buf = binary.AppendVarint(b.buf, int64(size))
	b.buf = append(b.buf, bd...)
	b.buf = appendVarbytes(b.buf, key)
	b.buf = appendVarbytes(b.buf, value)
	b.buf = binary.AppendVarint(b.buf, int64(len(headers)))
	for _, h := range headers {
		b.buf = binary.AppendVarint(b.buf, int64(len(h.Key)))
		b.buf = append(b.buf, h.Key...)
		b.buf = appendVarbytes(b.buf, h.Value)
	}
	b.n++
}

// Bytes finishes the batch (base offset 0) and returns it. The slice is owned
// by the builder until the next Reset.
func (b *Builder) Bytes() []byte {
	be := binary.BigEndian
	h := b.buf[:HeaderSize]
	be.PutUint64(h[offBaseOffset:], 0)
	be.PutUint32(h[offLength:], uint32(len(b.buf)-12))
	be.PutUint32(h[offLeaderEpoch:], 0)
	h[offMagic] = 2
	be.PutUint16(h[offAttributes:], 0)
	be.PutUint32(h[offLastOffsetDelta:], uint32(b.n-1))
	be.PutUint64(h[offFirstTimestamp:], uint64(b.firstTS))
	be.PutUint64(h[offMaxTimestamp:], uint64(b.maxTS))
	be.PutUint64(h[offProducerID:], uint64(b.producer.id))
	be.PutUint16(h[offProducerEpoch:], uint16(b.producer.epoch))
	be.PutUint32(h[offBaseSequence:], uint32(b.producer.seq))
	be.PutUint32(h[offRecordCount:], uint32(b.n))
	be.PutUint32(h[offCRC:], crc32.Checksum(b.buf[offAttributes:], castagnoli))
	return b.buf
}

func varintLen(v int64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutVarint(tmp[:], v)
}

func varbytesLen(p []byte) int {
	if p == nil {
		return 1
	}
	return varintLen(int64(len(p))) + len(p)
}

func appendVarbytes(dst, p []byte) []byte {
	if p == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(p)))
	return append(dst, p...)
}

// Records decodes all records of one batch, decompressing when needed. The
// returned slices alias b (or the decompressed buffer). maxDecompressed bounds
// the size of decompressed record data; 0 means 64 MiB.
func Records(b []byte, maxDecompressed int) (Header, []Record, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, nil, err
	}
	if maxDecompressed <= 0 {
		maxDecompressed = 64 << 20
	}
	data := b[HeaderSize:h.Size()]
	if c := h.Codec(); c != CodecNone {
		data, err = decompress(c, data, maxDecompressed)
		if err != nil {
			return h, nil, fmt.Errorf("decompress batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	if h.NumRecords < 0 || int(h.NumRecords) > len(data) {
		return h, nil, ErrBadRecords
	}
	recs := make([]Record, 0, h.NumRecords)
	for i := int32(0); i < h.NumRecords; i++ {
		var r Record
		var n int
		r, n, err = decodeRecord(data)
		if err != nil {
			return h, nil, fmt.Errorf("record %d of batch at offset %d: %w", i, h.BaseOffset, err)
		}
		data = data[n:]
		r.Offset += h.BaseOffset
		if h.Attributes&TimestampTypeMask != 0 {
			r.Timestamp = h.MaxTimestamp // LogAppendTime: the batch's time applies to all
		} else {
			r.Timestamp += h.FirstTimestamp
		}
		recs = append(recs, r)
	}
	return h, recs, nil
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.varint()
	if r.err || n < 0 {
		return nil
	}
	if n > int64(len(r.b)) {
		r.err = true
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// decodeRecord decodes one record; Offset and Timestamp are the deltas.
func decodeRecord(b []byte) (Record, int, error) {
	length, n := binary.Varint(b)
	if n <= 0 || length < 0 || length > int64(len(b)-n) {
		return Record{}, 0, ErrBadRecords
	}
	r := reader{b: b[n : n+int(length)]}
	if len(r.b) < 1 {
		return Record{}, 0, ErrBadRecords
	}
	r.b = r.b[1:] // attributes, unused
	var rec Record
	rec.Timestamp = r.varint()
	rec.Offset = r.varint()
	rec.Key = r.bytes()
	rec.Value = r.bytes()
	nh := r.varint()
	if r.err || nh < 0 || nh > int64(len(r.b)) {
		return Record{}, 0, ErrBadRecords
	}
	if nh > 0 {
		rec.Headers = make([]RecordHeader, 0, nh)
	}
	for i := int64(0); i < nh; i++ {
		k := r.bytes()
		v := r.bytes()
		if r.err {
			return Record{}, 0, ErrBadRecords
		}
		rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
	}
	if r.err {
		return Record{}, 0, ErrBadRecords
	}
	return rec, n + int(length), nil
}

// NowMs is the current time in Kafka's millisecond timestamps.
func NowMs() int64 { return time.Now().UnixMilli() }

// OneRecordSize is the size of an uncompressed batch holding one record
// (what the Builder makes of a single Add), without building it: the HTTP
// door checks a record against max.message.bytes with it.
func OneRecordSize(key, value []byte, headers []RecordHeader) int {
	size := 3 + varbytesLen(key) + varbytesLen(value) + varintLen(int64(len(headers))) // attributes, two zero deltas
	for _, h := range headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + varbytesLen(h.Value)
	}
	return HeaderSize + varintLen(int64(size)) + size
}
