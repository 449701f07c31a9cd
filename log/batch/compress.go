package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	return d
})

// xerialMagic starts snappy data framed the way the Java client writes it.
var xerialMagic = []byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// decompress inflates batch record data, refusing output over limit so that a
// small hostile batch cannot exhaust memory.
func decompress(codec int, src []byte, limit int) ([]byte, error) {
	switch codec {
	case CodecGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readLimited(r, limit)
	case CodecSnappy:
		if len(src) >= 16 && bytes.HasPrefix(src, xerialMagic) {
			return unxerial(src[16:], limit)
		}
		return unsnappy(nil, src, limit)
	case CodecLZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(src)), limit)
	case CodecZstd:
		return zstdDecoder().DecodeAll(src, nil)
	default:
		return nil, fmt.Errorf("%w %d", ErrUnsupported, codec)
	}
}

func readLimited(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n+len(dst) > limit {
		return nil, ErrTooLarge
	}
	out, err := s2.Decode(nil, src)
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

func unxerial(src []byte, limit int) ([]byte, error) {
	var dst []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, ErrBadRecords
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return nil, ErrBadRecords
		}
		var err error
		if dst, err = unsnappy(dst, src[:n], limit); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	return dst, nil
}
