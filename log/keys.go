package log

import "encoding/binary"

// Key layout. Every key starts with a one-byte kind; integers are big-endian
// so that RocksDB's byte order is numeric order (offsets iterate in order).
//
//	'N'                                   next topic id (u32)
//	'M' name                              topic metadata (JSON)
//	'B' tid u32 | part u32 | base u64     record batch, stored as produced
//	'P' tid u32 | part u32                partition state checkpoint: log start u64, next
//	                                       offset u64, max timestamp u64 (see stateCheckpointBytes)
//	'T' tid u32 | part u32 | maxts u64    sparse time index: running max timestamp -> base offset
//	                                       of the batch that raised it (see timeIndexInterval)
//	'S' tid u32 | part u32 | pid u64      idempotent producer state
//	'I' tid u32 | key                     HTTP idempotency key -> partition u32, offset u64, ts u64
//	'E' ts u64 | tid u32 | key            idempotency key expiry index
//	'C' len u16 | group | len u16 | topic | part u32
//	                                       committed consumer offset (JSON)
//	'X' key                               metadata of other packages (Meta, SetMeta, MetaList,
//	                                       DeleteMeta), e.g. auth's users, ACLs and tokens; in
//	                                       cluster mode also the internal partitions' view
//	                                       (internal_view.go): 'X' "coord/applied/{topic}/{p}" ->
//	                                       applied offset u64, 'X' "coord/pend/{p}/{pid}" ->
//	                                       pending transactional offsets (JSON), 'X' "txn/{id}"
//	'O' tid u32 | part u32 | pid u64      open transaction: first offset u64, producer epoch u16
//	                                       (written with its first batch, deleted with its marker)
//	'A' tid u32 | part u32 | last u64     aborted transaction, keyed by its abort marker's offset:
//	                                       producer id u64, first offset u64, stable-at u64
//	'L' tid u32 | part u32 | epoch u32    leader epoch cache: the epoch's start offset u64 (none
//	                                       on a partition that never changed leader: epoch 0)
const (
	kindNextTopicID = 'N'
	kindTopic       = 'M'
	kindBatch       = 'B'
	kindPartition   = 'P'
	kindTime        = 'T'
	kindProducer    = 'S'
	kindIdem        = 'I'
	kindIdemExpiry  = 'E'
	kindCommit      = 'C'
	kindMeta        = 'X'
	kindTxnOpen     = 'O'
	kindAborted     = 'A'
	kindEpoch       = 'L'
)

var be = binary.BigEndian

// Appends write no partition state: the batches are the state, and Open
// reads the tail after the last checkpoint. A checkpoint is written when a
// trim or reset moves the offsets, and after this many batch bytes, which
// bounds that tail (and Open's work: up to this much per partition). Every
// extra key costs a memtable insert per round, the largest CPU cost of a
// small durable write; one per 256 KiB is noise.
const stateCheckpointBytes = 256 << 10

// The time index gets an entry when a batch raises the running maximum
// timestamp and this many batch bytes went by since the last entry, as
// Kafka's index.interval.bytes; a lookup scans batch headers from the entry
// below the target.
const timeIndexInterval = 4096

func encodePartState(st *pstate) []byte {
	v := make([]byte, 0, 24)
	v = be.AppendUint64(v, uint64(st.logStart))
	v = be.AppendUint64(v, uint64(st.next))
	return be.AppendUint64(v, uint64(st.maxTs))
}

func partPrefix(kind byte, tid uint32, part int32) []byte {
	k := make([]byte, 9, 17)
	k[0] = kind
	be.PutUint32(k[1:], tid)
	be.PutUint32(k[5:], uint32(part))
	return k
}

func partKey(kind byte, tid uint32, part int32, v uint64) []byte {
	return be.AppendUint64(partPrefix(kind, tid, part), v)
}

func batchKey(tid uint32, part int32, base int64) []byte {
	return partKey(kindBatch, tid, part, uint64(base))
}

// tsKey maps a signed timestamp to an unsigned one that sorts the same way.
func tsKey(ts int64) uint64 { return uint64(ts) ^ (1 << 63) }

func topicPrefix(kind byte, tid uint32) []byte {
	k := make([]byte, 5)
	k[0] = kind
	be.PutUint32(k[1:], tid)
	return k
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func idemKey(tid uint32, key string) []byte {
	return append(topicPrefix(kindIdem, tid), key...)
}

func idemExpiryKey(ts int64, tid uint32, key string) []byte {
	k := make([]byte, 13, 13+len(key))
	k[0] = kindIdemExpiry
	be.PutUint64(k[1:], tsKey(ts))
	be.PutUint32(k[9:], tid)
	return append(k, key...)
}

func commitGroupPrefix(group string) []byte {
	k := make([]byte, 0, 3+len(group))
	k = append(k, kindCommit)
	k = be.AppendUint16(k, uint16(len(group)))
	return append(k, group...)
}

func commitKey(group, topic string, part int32) []byte {
	k := commitGroupPrefix(group)
	k = be.AppendUint16(k, uint16(len(topic)))
	k = append(k, topic...)
	return be.AppendUint32(k, uint32(part))
}

// parseCommitKey is the inverse of commitKey.
func parseCommitKey(k []byte) (group, topic string, part int32, ok bool) {
	if len(k) < 3 || k[0] != kindCommit {
		return "", "", 0, false
	}
	gl := int(be.Uint16(k[1:]))
	k = k[3:]
	if len(k) < gl+2 {
		return "", "", 0, false
	}
	group, k = string(k[:gl]), k[gl:]
	tl := int(be.Uint16(k))
	k = k[2:]
	if len(k) != tl+4 {
		return "", "", 0, false
	}
	return group, string(k[:tl]), int32(be.Uint32(k[tl:])), true
}

// ProducerIDCeilingKey is the Meta key of the Kafka door's producer-id
// ceiling: every id this node handed out is below the stored value
// (kafka/22_init_producer_id.go writes it; a cluster upgrade reads it).
const ProducerIDCeilingKey = "kafka.producer_id.ceiling"
