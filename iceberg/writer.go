package iceberg

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// defaultRowGroupBytes is how much raw record data (keys, values, headers)
// a file's builder holds before it becomes one row group: it is the memory
// an open file costs beyond the encoders, and the most a file can exceed
// the target size by.
const defaultRowGroupBytes = 4 << 20

// rowOverhead is the raw size counted per row besides key, value and
// headers (partition, offset, timestamp, validity and offsets).
const rowOverhead = 24

// countWriter counts the bytes that reach the file (written by the
// compressing worker, read by Add for Bytes and rolling).
type countWriter struct {
	w *bufio.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// worker runs jobs on its own goroutine, one at a time in submission
// order, while Add goes on: an Append has one that encodes and compresses
// row groups (the two cores share the work) and one that uploads closed
// files. Submitting waits for the previous job to be taken, so the
// compressor adds one row group of memory (the one being written) and the
// uploader one spilled file on disk.
type worker struct {
	jobs    chan func(skip bool) error
	pending sync.WaitGroup
	mu      sync.Mutex
	err     error // the first failed job; later jobs are skipped
	started bool
}

// submit queues job; after a job has failed, later ones run with skip
// set (to release what they hold) and their errors are dropped.
func (c *worker) submit(job func(skip bool) error) {
	if !c.started {
		c.started = true
		c.jobs = make(chan func(skip bool) error)
		go c.run()
	}
	c.pending.Add(1)
	c.jobs <- job
}

func (c *worker) run() {
	for job := range c.jobs {
		c.mu.Lock()
		failed := c.err != nil
		c.mu.Unlock()
		if err := job(failed); err != nil && !failed {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
		}
		c.pending.Done()
	}
}

// wait returns when every submitted job is done, with the first error.
func (c *worker) wait() error {
	c.pending.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// failed is the first error so far, without waiting.
func (c *worker) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// stop waits for the jobs and ends the goroutine.
func (c *worker) stop() {
	c.pending.Wait()
	if c.started {
		close(c.jobs)
		c.started = false
	}
}

// fileWriter is one open data file of one partition bucket, spilled to a
// local file: rows go into arrow builders, and every rowGroupBytes of raw
// data become one zstd row group on disk, so its memory stays bounded.
type fileWriter struct {
	bucket  int64
	name    string // data/<append>-<i>.parquet, relative to the table
	spill   string // local path
	f       *os.File
	cw      *countWriter
	fw      *pqarrow.FileWriter // used by the compressor once rows are submitted
	comp    *worker
	queued  atomic.Int64 // raw bytes submitted and not yet written
	lastUse uint64
	rows    int64 // rows in the file, flushed or not

	// bld holds the rows of the next row group, appended by the append's
	// rowEncoder; the byte builders are kept to reserve them.
	bld  *array.RecordBuilder
	keyB *array.BinaryBuilder
	hdrS *array.StructBuilder
	hkB  *array.BinaryBuilder
	hvB  *array.BinaryBuilder
	valB *array.BinaryBuilder

	bufRows int   // rows in the builders
	bufRaw  int64 // raw bytes in the builders
	// sizes of the last row group, to reserve the builders once per row
	// group instead of growing them by doubling
	lastRows, lastKey, lastVal, lastHdr, lastHdrKey, lastHdrVal int
	curKey, curVal, curHdr, curHdrKey, curHdrVal                int
}

func writerProps() *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithStats(true),
		// No dictionaries: values and keys are mostly distinct (a
		// dictionary would be built, then dropped at the first page), and
		// arrow-go's dictionary encoder allocates per value (header keys
		// repeat, but zstd folds them as well).
		parquet.WithDictionaryDefault(false),
		// Min/max of keys, values and headers serve no query and cost a
		// compare per row; _partition, _offset and _timestamp keep theirs
		// (the partition value is inferred from _timestamp's bounds).
		parquet.WithStatsFor("_key", false),
		parquet.WithStatsFor("value", false),
		parquet.WithStatsFor("_headers.list.element.key", false),
		parquet.WithStatsFor("_headers.list.element.value", false),
	)
}

func newFileWriter(asc *arrow.Schema, comp *worker, bucket int64, name, spill string) (*fileWriter, error) {
	f, err := os.OpenFile(spill, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("spill %s: %w", spill, err)
	}
	cw := &countWriter{w: bufio.NewWriterSize(f, 64<<10)}
	fw, err := pqarrow.NewFileWriter(asc, cw, writerProps(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		os.Remove(spill)
		return nil, fmt.Errorf("parquet writer %s: %w", name, err)
	}
	w := &fileWriter{bucket: bucket, name: name, spill: spill, f: f, cw: cw, fw: fw, comp: comp}
	w.bld = array.NewRecordBuilder(memory.DefaultAllocator, asc)
	// The fixed fields 1-6 come first in every mode (fixedFields).
	ok := [4]bool{}
	w.keyB, ok[0] = binaryOf(w.bld.Field(FieldKey - 1))
	w.valB, ok[1] = binaryOf(w.bld.Field(FieldValue - 1))
	if hdr, isList := w.bld.Field(FieldHeaders - 1).(*array.ListBuilder); isList {
		if w.hdrS, ok[2] = hdr.ValueBuilder().(*array.StructBuilder); ok[2] {
			var k, v bool
			w.hkB, k = binaryOf(w.hdrS.FieldBuilder(0))
			w.hvB, v = binaryOf(w.hdrS.FieldBuilder(1))
			ok[3] = k && v
		}
	}
	if ok != [4]bool{true, true, true, true} {
		w.bld.Release()
		f.Close()
		os.Remove(spill)
		return nil, fmt.Errorf("parquet writer %s: the schema's fixed fields are not where they belong", name)
	}
	return w, nil
}

// add appends one row to the builders through enc (the caller checked the
// order, and enc.check the record).
//
// With reserve, a row group's first row sizes the builders like the last
// row group (no regrowth); the caller turns it off when many files share
// the builders' budget, where a row group is cut smaller than the last.
func (w *fileWriter) add(enc *rowEncoder, r *Record, reserve bool) error {
	if w.bufRows == 0 && w.lastRows > 0 && reserve {
		w.reserve()
	}
	if err := enc.put(w.bld, r); err != nil {
		return err
	}
	raw := int64(rowOverhead + len(r.Key) + len(r.Value))
	w.curKey += len(r.Key)
	for i := range r.Headers {
		h := &r.Headers[i]
		raw += int64(8 + len(h.Key) + len(h.Value))
		w.curHdrKey += len(h.Key)
		w.curHdrVal += len(h.Value)
	}
	w.curHdr += len(r.Headers)
	w.curVal += len(r.Value)
	w.bufRows++
	w.bufRaw += raw
	w.rows++
	return nil
}

// reserve sizes the builders for a row group like the last one.
func (w *fileWriter) reserve() {
	n := w.lastRows + w.lastRows/8
	w.bld.Reserve(n)
	w.keyB.ReserveData(w.lastKey + w.lastKey/8)
	w.valB.ReserveData(w.lastVal + w.lastVal/8)
	if w.lastHdr > 0 {
		h := w.lastHdr + w.lastHdr/8
		w.hdrS.Reserve(h)
		w.hkB.Reserve(h)
		w.hkB.ReserveData(w.lastHdrKey + w.lastHdrKey/8)
		w.hvB.Reserve(h)
		w.hvB.ReserveData(w.lastHdrVal + w.lastHdrVal/8)
	}
}

// flush hands the builders' rows to the compressor as one row group.
func (w *fileWriter) flush() error {
	if err := w.comp.failed(); err != nil {
		return err
	}
	if w.bufRows == 0 {
		return nil
	}
	rec := w.bld.NewRecordBatch()
	raw := w.bufRaw
	w.lastRows, w.lastKey, w.lastVal, w.lastHdr, w.lastHdrKey, w.lastHdrVal = w.bufRows, w.curKey, w.curVal, w.curHdr, w.curHdrKey, w.curHdrVal
	w.bufRows, w.bufRaw, w.curKey, w.curVal, w.curHdr, w.curHdrKey, w.curHdrVal = 0, 0, 0, 0, 0, 0, 0
	w.queued.Add(raw)
	w.comp.submit(func(skip bool) error {
		defer rec.Release()
		defer w.queued.Add(-raw)
		if skip {
			return nil
		}
		if err := w.fw.Write(rec); err != nil {
			return fmt.Errorf("write %s: %w", w.name, err)
		}
		return nil
	})
	return nil
}

// size is the bytes written to the file so far (compressed) plus the raw
// bytes queued or waiting in the builders: never less than the file will
// be once they are written.
func (w *fileWriter) size() int64 { return w.cw.n.Load() + w.queued.Load() + w.bufRaw }

// close flushes the last row group, waits for the compressor, writes the
// footer and closes the spill file; it returns the footer and the file size.
func (w *fileWriter) close() (*metadata.FileMetaData, int64, error) {
	err := w.flush()
	if werr := w.comp.wait(); err == nil {
		err = werr
	}
	w.bld.Release()
	if cerr := w.fw.Close(); err == nil {
		err = cerr
	}
	if ferr := w.cw.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, 0, fmt.Errorf("close %s: %w", w.name, err)
	}
	md, err := w.fw.FileMetadata()
	if err != nil {
		return nil, 0, fmt.Errorf("close %s: %w", w.name, err)
	}
	return md, w.cw.n.Load(), nil
}

// discard drops an open file and its spill.
func (w *fileWriter) discard() {
	_ = w.comp.wait()
	w.bld.Release()
	_ = w.fw.Close()
	w.f.Close()
	os.Remove(w.spill)
}
