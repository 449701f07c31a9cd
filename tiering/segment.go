package tiering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Segment object layout (docs/SEGMENT_FORMAT.md):
//
//	header  16 bytes  "ZOMBISEG" | version u32 | reserved u32
//	data    record batches as stored, concatenated, in offset order
//	index   one 40-byte entry per batch
//	trailer 32 bytes  index position u64 | batch count u32 | index CRC-32C u32 |
//	                  data CRC-32C u32 | reserved u32 | "ZSEGEND\x00"
//
// All integers are big-endian. Index entry: base offset u64, last offset u64,
// max timestamp i64, position u64 (from the start of the object), length u32,
// CRC-32C of the batch bytes u32.
const (
	segMagic       = "ZOMBISEG"
	segEndMagic    = "ZSEGEND\x00"
	segVersion     = 1
	segHeaderSize  = 16
	segTrailerSize = 32
	segEntrySize   = 40
	segExt         = "zseg"
)

// ErrCorruptSegment reports a segment object whose bytes do not match its
// checksums or structure. It is never served.
var ErrCorruptSegment = errors.New("corrupt cold segment")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// indexEntry locates one batch in a segment object.
type indexEntry struct {
	Base, Last   int64
	MaxTimestamp int64
	Pos          int64
	Len          uint32
	CRC          uint32
}

// segIndex is the decoded index of a segment.
type segIndex struct {
	entries []indexEntry
	dataCRC uint32
}

// size is the approximate memory held, for the cache.
func (ix *segIndex) size() int64 { return int64(len(ix.entries))*48 + 64 }

// find returns the index of the first batch whose last offset is >= offset,
// or len(entries).
func (ix *segIndex) find(offset int64) int {
	lo, hi := 0, len(ix.entries)
	for lo < hi {
		m := (lo + hi) / 2
		if ix.entries[m].Last < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// builtSegment is an encoded segment with what the manifest records of it.
type builtSegment struct {
	body []byte
	meta SegmentMeta
}

// encodeSegment builds a segment object for the cold range [start, end) of
// a partition from whole batches (the first may begin before start).
// suffix is keySuffix's in cluster mode, else "".
func encodeSegment(topic string, part int32, start int64, bs []plog.Batch, suffix string) builtSegment {
	n := segHeaderSize + segTrailerSize + len(bs)*segEntrySize
	data := 0
	for _, b := range bs {
		data += len(b.Raw)
	}
	n += data
	body := make([]byte, segHeaderSize, n)
	copy(body, segMagic)
	binary.BigEndian.PutUint32(body[8:], segVersion)
	entries := make([]indexEntry, len(bs))
	meta := SegmentMeta{Start: start, BaseOffset: bs[0].BaseOffset, MinTimestamp: bs[0].MaxTimestamp, MaxTimestamp: bs[0].MaxTimestamp, Batches: len(bs), Bytes: int64(data)}
	dataCRC := crc32.New(castagnoli)
	for i, b := range bs {
		entries[i] = indexEntry{Base: b.BaseOffset, Last: b.LastOffset, MaxTimestamp: b.MaxTimestamp, Pos: int64(len(body)), Len: uint32(len(b.Raw)), CRC: crc32.Checksum(b.Raw, castagnoli)}
		body = append(body, b.Raw...)
		dataCRC.Write(b.Raw)
		meta.MaxTimestamp = max(meta.MaxTimestamp, b.MaxTimestamp)
		if h, err := batch.ReadHeader(b.Raw); err == nil && h.FirstTimestamp < meta.MinTimestamp {
			meta.MinTimestamp = h.FirstTimestamp
		}
	}
	indexPos := len(body)
	for _, e := range entries {
		body = binary.BigEndian.AppendUint64(body, uint64(e.Base))
		body = binary.BigEndian.AppendUint64(body, uint64(e.Last))
		body = binary.BigEndian.AppendUint64(body, uint64(e.MaxTimestamp))
		body = binary.BigEndian.AppendUint64(body, uint64(e.Pos))
		body = binary.BigEndian.AppendUint32(body, e.Len)
		body = binary.BigEndian.AppendUint32(body, e.CRC)
	}
	body = binary.BigEndian.AppendUint64(body, uint64(indexPos))
	body = binary.BigEndian.AppendUint32(body, uint32(len(entries)))
	body = binary.BigEndian.AppendUint32(body, crc32.Checksum(body[indexPos:indexPos+len(entries)*segEntrySize], castagnoli))
	body = binary.BigEndian.AppendUint32(body, dataCRC.Sum32())
	body = binary.BigEndian.AppendUint32(body, 0)
	body = append(body, segEndMagic...)

	meta.End = bs[len(bs)-1].LastOffset + 1
	meta.Key = segmentKey(topic, part, start, meta.End, suffix)
	meta.Size = int64(len(body))
	meta.IndexPos = int64(indexPos)
	meta.DataCRC = dataCRC.Sum32()
	return builtSegment{body: body, meta: meta}
}

// decodeIndex parses the tail of a segment object: tail holds the bytes from
// tailPos to the end of an object of size objSize (at least the index and
// the trailer).
func decodeIndex(tail []byte, tailPos, objSize int64) (*segIndex, error) {
	if len(tail) < segTrailerSize || tailPos+int64(len(tail)) != objSize {
		return nil, fmt.Errorf("%w: short tail (%d bytes)", ErrCorruptSegment, len(tail))
	}
	tr := tail[len(tail)-segTrailerSize:]
	if string(tr[24:]) != segEndMagic {
		return nil, fmt.Errorf("%w: bad trailer magic", ErrCorruptSegment)
	}
	indexPos := int64(binary.BigEndian.Uint64(tr))
	count := int64(binary.BigEndian.Uint32(tr[8:]))
	indexCRC := binary.BigEndian.Uint32(tr[12:])
	if indexPos < segHeaderSize || indexPos+count*segEntrySize+segTrailerSize != objSize || indexPos < tailPos {
		return nil, fmt.Errorf("%w: index position %d, %d batches, object size %d", ErrCorruptSegment, indexPos, count, objSize)
	}
	raw := tail[indexPos-tailPos : len(tail)-segTrailerSize]
	if crc32.Checksum(raw, castagnoli) != indexCRC {
		return nil, fmt.Errorf("%w: index checksum mismatch", ErrCorruptSegment)
	}
	ix := &segIndex{entries: make([]indexEntry, count), dataCRC: binary.BigEndian.Uint32(tr[16:])}
	pos := int64(segHeaderSize)
	for i := range ix.entries {
		e := raw[i*segEntrySize:]
		ix.entries[i] = indexEntry{
			Base:         int64(binary.BigEndian.Uint64(e)),
			Last:         int64(binary.BigEndian.Uint64(e[8:])),
			MaxTimestamp: int64(binary.BigEndian.Uint64(e[16:])),
			Pos:          int64(binary.BigEndian.Uint64(e[24:])),
			Len:          binary.BigEndian.Uint32(e[32:]),
			CRC:          binary.BigEndian.Uint32(e[36:]),
		}
		if ix.entries[i].Pos != pos || ix.entries[i].Last < ix.entries[i].Base {
			return nil, fmt.Errorf("%w: index entry %d out of place", ErrCorruptSegment, i)
		}
		pos += int64(ix.entries[i].Len)
	}
	if pos != indexPos {
		return nil, fmt.Errorf("%w: batches end at %d, index at %d", ErrCorruptSegment, pos, indexPos)
	}
	return ix, nil
}

// checkBatch verifies one batch read from a segment against its index entry.
func checkBatch(key string, e indexEntry, raw []byte) error {
	if len(raw) != int(e.Len) || crc32.Checksum(raw, castagnoli) != e.CRC {
		return fmt.Errorf("%w: %s: batch at offset %d fails its checksum", ErrCorruptSegment, key, e.Base)
	}
	if len(raw) < 8 || int64(binary.BigEndian.Uint64(raw)) != e.Base {
		return fmt.Errorf("%w: %s: batch at offset %d has the wrong base offset", ErrCorruptSegment, key, e.Base)
	}
	return nil
}

// decodeSegment parses and verifies a whole segment object.
func decodeSegment(key string, body []byte) (*segIndex, []plog.Batch, error) {
	if len(body) < segHeaderSize+segTrailerSize || string(body[:8]) != segMagic {
		return nil, nil, fmt.Errorf("%w: %s: not a segment object", ErrCorruptSegment, key)
	}
	if v := binary.BigEndian.Uint32(body[8:]); v != segVersion {
		return nil, nil, fmt.Errorf("%w: %s: unknown version %d", ErrCorruptSegment, key, v)
	}
	ix, err := decodeIndex(body, 0, int64(len(body)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", key, err)
	}
	out := make([]plog.Batch, len(ix.entries))
	for i, e := range ix.entries {
		raw := body[e.Pos : e.Pos+int64(e.Len)]
		if err := checkBatch(key, e, raw); err != nil {
			return nil, nil, err
		}
		out[i] = plog.Batch{BaseOffset: e.Base, LastOffset: e.Last, MaxTimestamp: e.MaxTimestamp, Raw: raw}
	}
	end := int64(segHeaderSize)
	if len(ix.entries) > 0 {
		last := ix.entries[len(ix.entries)-1]
		end = last.Pos + int64(last.Len)
	}
	if crc32.Checksum(body[segHeaderSize:end], castagnoli) != ix.dataCRC {
		return nil, nil, fmt.Errorf("%w: %s: data checksum mismatch", ErrCorruptSegment, key)
	}
	return ix, out, nil
}

// segmentPrefix is the key prefix of a partition's segments.
func segmentPrefix(topic string, part int32) string {
	return "segments/" + topic + "/" + strconv.Itoa(int(part)) + "/"
}

// segmentKey names the segment covering [start, end) (end exclusive);
// suffix is keySuffix's (cluster mode) or "".
func segmentKey(topic string, part int32, start, end int64, suffix string) string {
	return fmt.Sprintf("%s%016x-%016x%s.%s", segmentPrefix(topic, part), start, end, suffix, segExt)
}

// ParseSegmentKey splits a segment key into table, partition and its
// offset range [start, end).
func ParseSegmentKey(key string) (topic string, part int32, start, end int64, err error) {
	rest, ok := strings.CutPrefix(key, "segments/")
	fields := strings.Split(rest, "/")
	if !ok || len(fields) != 3 {
		return "", 0, 0, 0, fmt.Errorf("not a segment key: %q", key)
	}
	p, err1 := strconv.ParseInt(fields[1], 10, 32)
	name, ok := strings.CutSuffix(fields[2], "."+segExt)
	if len(name) > 33 && validSuffix(name[33:]) {
		name = name[:33] // a cluster-mode key: writer's topic id and epoch
	}
	s, e, ok2 := strings.Cut(name, "-")
	st, err2 := strconv.ParseUint(s, 16, 63)
	en, err3 := strconv.ParseUint(e, 16, 63)
	if err1 != nil || !ok || !ok2 || err2 != nil || err3 != nil || len(s) != 16 || len(e) != 16 {
		return "", 0, 0, 0, fmt.Errorf("not a segment key: %q", key)
	}
	return fields[0], int32(p), int64(st), int64(en), nil
}
