package iceberg

import (
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// arrow-go's zstd codec pools encoders with the default 8 MiB window, whose
// history buffers take 16 MiB per encoder (one per CPU in the pool). A
// Parquet page is at most about 1 MiB and is compressed on its own, so a
// 1 MiB window compresses the same and costs about 1 MiB. This replaces
// the process-wide Parquet zstd codec (only this package writes Parquet);
// decoding is arrow-go's own.
func init() {
	orig, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return
	}
	if _, ok := orig.(compress.StreamingCodec); !ok {
		return
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &smallZstd{Codec: orig})
}

const zstdWindow = 1 << 20

type smallZstd struct {
	compress.Codec
	pools sync.Map // zstd.EncoderLevel -> *sync.Pool of *zstd.Encoder
}

func (z *smallZstd) encoder(level zstd.EncoderLevel) (*sync.Pool, *zstd.Encoder) {
	p, ok := z.pools.Load(level)
	if !ok {
		p, _ = z.pools.LoadOrStore(level, &sync.Pool{New: func() any {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(zstdWindow), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true))
			if err != nil {
				return nil
			}
			return enc
		}})
	}
	pool := p.(*sync.Pool)
	enc, _ := pool.Get().(*zstd.Encoder)
	return pool, enc
}

func (z *smallZstd) Encode(dst, src []byte) []byte {
	return z.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (z *smallZstd) EncodeLevel(dst, src []byte, level int) []byte {
	l := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		l = zstd.EncoderLevelFromZstd(level)
	}
	pool, enc := z.encoder(l)
	if enc == nil {
		return z.Codec.EncodeLevel(dst, src, level)
	}
	out := enc.EncodeAll(src, dst[:0])
	pool.Put(enc)
	return out
}

// DecodeWithError keeps arrow-go's checked decoding (compress.ErrorCodec).
func (z *smallZstd) DecodeWithError(dst, src []byte) ([]byte, error) {
	if ec, ok := z.Codec.(compress.ErrorCodec); ok {
		return ec.DecodeWithError(dst, src)
	}
	return z.Codec.Decode(dst, src), nil
}

// NewReader, NewWriter and NewWriterLevel keep arrow-go's streaming
// (compress.StreamingCodec), which its page reader uses for large pages.
func (z *smallZstd) NewReader(r io.Reader) io.ReadCloser {
	return z.Codec.(compress.StreamingCodec).NewReader(r)
}

func (z *smallZstd) NewWriter(w io.Writer) io.WriteCloser {
	return z.Codec.(compress.StreamingCodec).NewWriter(w)
}

func (z *smallZstd) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return z.Codec.(compress.StreamingCodec).NewWriterLevel(w, level)
}

var _ compress.StreamingCodec = (*smallZstd)(nil)
