package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"math"

	plog "github.com/zombi-dev/zombi/log"
)

// The message browser's cursor: where a read stopped, per partition, so
// that the next call ("Load more") continues there. It is opaque to
// clients: base64url (no padding) of
//
//	version (1) | flags (bit 0: newest first) | topic UUID (16 bytes) |
//	uvarint count | count x (uvarint partition, uvarint position) |
//	CRC-32C of all before, big-endian (4 bytes)
//
// Partitions are strictly increasing. Position is the next offset to read
// going forward, or the end (exclusive) of what remains going backward;
// a partition missing from a backward cursor has nothing older left. The
// topic UUID ties a cursor to one incarnation of a table: a cursor of a
// deleted and re-created table is refused. The CRC catches a garbled
// cursor; a well-formed forged one is no more than a seek (the read is
// checked against the table's ACL like any other).

const (
	cursorVersion = 1
	// maxCursorChars bounds the cursor parameter (10,000 partitions at
	// large offsets fit).
	maxCursorChars = 256 << 10
	cursorHeader   = 1 + 1 + 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cursorPart is one partition's position in a cursor.
type cursorPart struct {
	partition int32
	pos       int64
}

// msgCursor is a decoded cursor.
type msgCursor struct {
	backward bool
	topic    [16]byte
	parts    []cursorPart
}

func (c *msgCursor) encode() string {
	b := make([]byte, 0, cursorHeader+binary.MaxVarintLen32+len(c.parts)*(binary.MaxVarintLen32+binary.MaxVarintLen64)+4)
	var flags byte
	if c.backward {
		flags = 1
	}
	b = append(b, cursorVersion, flags)
	b = append(b, c.topic[:]...)
	b = binary.AppendUvarint(b, uint64(len(c.parts)))
	for _, p := range c.parts {
		b = binary.AppendUvarint(b, uint64(p.partition))
		b = binary.AppendUvarint(b, uint64(p.pos))
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return base64.RawURLEncoding.EncodeToString(b)
}

// errBadCursor is the answer to any cursor that does not decode: the
// client should start again from the parameters.
func errBadCursor(why string) error {
	return badRequest("invalid cursor (%s): pass the next_cursor of a previous answer unchanged, or start again without cursor", why)
}

// decodeCursor parses a cursor; it checks its form only (decodeCursor never
// panics, whatever s holds; FuzzMessagesQuery checks it).
func decodeCursor(s string) (*msgCursor, error) {
	if len(s) > maxCursorChars {
		return nil, errBadCursor("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor("not base64url")
	}
	if len(b) < cursorHeader+1+4 {
		return nil, errBadCursor("too short")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errBadCursor("checksum mismatch")
	}
	if body[0] != cursorVersion {
		return nil, errBadCursor("unknown version")
	}
	if body[1]&^1 != 0 {
		return nil, errBadCursor("unknown flags")
	}
	c := &msgCursor{backward: body[1]&1 != 0}
	copy(c.topic[:], body[2:cursorHeader])
	rest := body[cursorHeader:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > plog.MaxPartitions {
		return nil, errBadCursor("bad partition count")
	}
	rest = rest[k:]
	// Each entry takes at least two bytes: no allocation beyond what the
	// cursor could hold.
	if n > uint64(len(rest)/2) {
		return nil, errBadCursor("truncated")
	}
	c.parts = make([]cursorPart, 0, n)
	prev := int64(-1)
	for range n {
		p, k := binary.Uvarint(rest)
		if k <= 0 || p >= plog.MaxPartitions || int64(p) <= prev {
			return nil, errBadCursor("bad partition")
		}
		rest = rest[k:]
		pos, k := binary.Uvarint(rest)
		if k <= 0 || pos > math.MaxInt64 {
			return nil, errBadCursor("bad position")
		}
		rest = rest[k:]
		prev = int64(p)
		c.parts = append(c.parts, cursorPart{partition: int32(p), pos: int64(pos)})
	}
	if len(rest) != 0 {
		return nil, errBadCursor("trailing bytes")
	}
	return c, nil
}
