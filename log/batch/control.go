package batch

import (
	"encoding/binary"
	"hash/crc32"
)

var be = binary.BigEndian

// Control record types: the second int16 of a control record's key, as
// Kafka's ControlRecordType.
const (
	MarkerAbort  = 0
	MarkerCommit = 1
)

// Marker returns a transaction marker: a control batch of one record whose
// key is version 0 and the type (commit or abort) and whose value is version
// 0 and the coordinator epoch, as Kafka's EndTransactionMarker.
func Marker(pid int64, epoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := byte(MarkerAbort)
	if commit {
		typ = MarkerCommit
	}
	value := []byte{0, 0, 0, 0, 0, 0}
	be.PutUint32(value[2:], uint32(coordinatorEpoch))
	b := NewBuilder()
	b.SetProducer(pid, epoch, -1)
	b.Add(ts, []byte{0, 0, 0, typ}, value, nil)
	raw := append([]byte(nil), b.Bytes()...)
	be.PutUint16(raw[offAttributes:], TransactionalMask|ControlMask)
	be.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], castagnoli))
	return raw
}

// MarkerType returns the type of a control record (MarkerAbort or
// MarkerCommit) from its key; ok is false for another control record.
func MarkerType(key []byte) (typ int16, ok bool) {
	if len(key) < 4 {
		return 0, false
	}
	typ = int16(be.Uint16(key[2:]))
	return typ, typ == MarkerAbort || typ == MarkerCommit
}

// SetTransactional marks batch b as part of a transaction (the attribute a
// transactional producer sets) and recomputes its CRC: for tools and tests
// that build transactional batches with Builder.
func SetTransactional(b []byte) {
	be.PutUint16(b[offAttributes:], be.Uint16(b[offAttributes:])|TransactionalMask)
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}
