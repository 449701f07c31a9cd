package iceberg

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// InvalidValueError: in json mode, a record whose value is not JSON text
// (Reason is its _error in the {topic}_dlq table). Nothing of the record
// was appended.
type InvalidValueError struct{ Reason string }

func (e *InvalidValueError) Error() string { return "iceberg: " + e.Reason }

// rowEncoder appends Records as rows of one table schema to an arrow
// RecordBuilder of that schema (table.SchemaToArrowSchema with field ids).
// Columns are found by field id, so it follows the table's current schema
// whatever its column order: raw (value binary), json (value string plus
// typed columns extracted from top-level JSON fields) or dlq (value binary
// plus _error). One encoder serves one goroutine.
type rowEncoder struct {
	mode Mode
	idx  [FieldValue + 1]int // builder index of fields 1-6
	hdrK int                 // _headers element: index of key, value
	hdrV int
	errI int      // dlq: builder index of _error
	cols []encCol // json: typed columns, in slot order

	scan jsonScanner
	buf  []byte // unescaped strings

	// builders of bld, bound on first use
	bld   *array.RecordBuilder
	part  *array.Int32Builder
	off   *array.Int64Builder
	ts    *array.TimestampBuilder
	key   *array.BinaryBuilder
	hdr   *array.ListBuilder
	hdrS  *array.StructBuilder
	hk    *array.BinaryBuilder
	hv    *array.BinaryBuilder
	val   *array.BinaryBuilder
	errB  *array.BinaryBuilder
	typed []array.Builder
}

type encCol struct {
	name string
	typ  ColumnType
	idx  int // builder index
}

// fieldID is the Iceberg field id in an arrow field's metadata.
func fieldID(f arrow.Field) (int, bool) {
	s, ok := f.Metadata.GetValue(table.ArrowParquetFieldIDKey)
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	return id, err == nil
}

// newRowEncoder prepares the rows of schema sc, whose arrow form is asc.
func newRowEncoder(sc *iceberg.Schema, asc *arrow.Schema) (*rowEncoder, error) {
	e := &rowEncoder{mode: ModeRaw, errI: -1}
	for i := range e.idx {
		e.idx[i] = -1
	}
	var extra []int // builder indexes of fields past the fixed ones
	for i, f := range asc.Fields() {
		id, ok := fieldID(f)
		if !ok {
			return nil, fmt.Errorf("row encoder: arrow field %q has no field id", f.Name)
		}
		if id <= FieldValue && id >= FieldPartition {
			e.idx[id] = i
		} else {
			extra = append(extra, i)
		}
	}
	for id := FieldPartition; id <= FieldValue; id++ {
		if e.idx[id] < 0 {
			return nil, fmt.Errorf("row encoder: schema has no field %d", id)
		}
	}
	if asc.Field(e.idx[FieldValue]).Type.ID() == arrow.STRING {
		e.mode = ModeJSON
	}
	hdrT, ok := asc.Field(e.idx[FieldHeaders]).Type.(*arrow.ListType)
	if !ok {
		return nil, fmt.Errorf("row encoder: _headers is %s, want a list", asc.Field(e.idx[FieldHeaders]).Type)
	}
	st, ok := hdrT.Elem().(*arrow.StructType)
	if !ok {
		return nil, fmt.Errorf("row encoder: _headers element is %s, want a struct", hdrT.Elem())
	}
	e.hdrK, e.hdrV = -1, -1
	for i, f := range st.Fields() {
		switch id, _ := fieldID(f); id {
		case FieldHeaderKey:
			e.hdrK = i
		case FieldHeaderValue:
			e.hdrV = i
		}
	}
	if e.hdrK < 0 || e.hdrV < 0 || st.NumFields() != 2 {
		return nil, fmt.Errorf("row encoder: _headers element is %s, want struct<key (%d), value (%d)>", st, FieldHeaderKey, FieldHeaderValue)
	}

	for _, i := range extra {
		f := asc.Field(i)
		id, _ := fieldID(f)
		nf, ok := sc.FindFieldByID(id)
		if !ok {
			return nil, fmt.Errorf("row encoder: field %d %q is not in the schema", id, f.Name)
		}
		if e.mode == ModeRaw && id == FieldError && nf.Name == "_error" && len(extra) == 1 {
			e.mode, e.errI = ModeDLQ, i
			continue
		}
		if e.mode != ModeJSON || id < FirstTypedFieldID {
			return nil, fmt.Errorf("row encoder: field %d %q: typed columns need json mode (value a string)", id, nf.Name)
		}
		typ, ok := columnTypeOf(nf.Type)
		if !ok {
			return nil, fmt.Errorf("row encoder: field %d %q has type %s", id, nf.Name, nf.Type)
		}
		e.cols = append(e.cols, encCol{name: nf.Name, typ: typ, idx: i})
	}
	names := make([]string, len(e.cols))
	for i, c := range e.cols {
		names[i] = c.name
	}
	e.scan = newJSONScanner(names)
	return e, nil
}

func (e *rowEncoder) bind(bld *array.RecordBuilder) error {
	var ok [8]bool
	e.part, ok[0] = bld.Field(e.idx[FieldPartition]).(*array.Int32Builder)
	e.off, ok[1] = bld.Field(e.idx[FieldOffset]).(*array.Int64Builder)
	e.ts, ok[2] = bld.Field(e.idx[FieldTimestamp]).(*array.TimestampBuilder)
	e.key, ok[3] = bld.Field(e.idx[FieldKey]).(*array.BinaryBuilder)
	e.hdr, ok[4] = bld.Field(e.idx[FieldHeaders]).(*array.ListBuilder)
	e.val, ok[5] = binaryOf(bld.Field(e.idx[FieldValue]))
	ok[6], ok[7] = true, true
	if ok[4] {
		e.hdrS, ok[6] = e.hdr.ValueBuilder().(*array.StructBuilder)
		if ok[6] {
			var k, v bool
			e.hk, k = binaryOf(e.hdrS.FieldBuilder(e.hdrK))
			e.hv, v = binaryOf(e.hdrS.FieldBuilder(e.hdrV))
			ok[7] = k && v
		}
	}
	if e.errI >= 0 {
		var k bool
		if e.errB, k = binaryOf(bld.Field(e.errI)); !k {
			return fmt.Errorf("row encoder: _error builder is %T", bld.Field(e.errI))
		}
	}
	for i, o := range ok {
		if !o {
			return fmt.Errorf("row encoder: builder %d does not match the schema", i)
		}
	}
	e.typed = e.typed[:0]
	for _, c := range e.cols {
		b := bld.Field(c.idx)
		var match bool
		switch c.typ {
		case TypeString:
			_, match = b.(*array.StringBuilder)
		case TypeLong:
			_, match = b.(*array.Int64Builder)
		case TypeDouble:
			_, match = b.(*array.Float64Builder)
		case TypeBoolean:
			_, match = b.(*array.BooleanBuilder)
		case TypeTimestamp:
			_, match = b.(*array.TimestampBuilder)
		}
		if !match {
			return fmt.Errorf("row encoder: column %q (%s) has builder %T", c.name, c.typ, b)
		}
		e.typed = append(e.typed, b)
	}
	e.bld = bld
	return nil
}

// binaryOf is the byte builder behind a binary or string builder.
func binaryOf(b array.Builder) (*array.BinaryBuilder, bool) {
	switch b := b.(type) {
	case *array.BinaryBuilder:
		return b, true
	case *array.StringBuilder:
		return b.BinaryBuilder, true
	}
	return nil, false
}

func appendBytes(b *array.BinaryBuilder, v []byte) {
	if v == nil {
		b.AppendNull()
	} else {
		b.Append(v)
	}
}

// append adds r as one row to bld (a builder of the encoder's arrow
// schema). In json mode a value that is not JSON text is an
// *InvalidValueError and bld is left unchanged.
func (e *rowEncoder) append(bld *array.RecordBuilder, r *Record) error {
	if err := e.check(r); err != nil {
		return err
	}
	return e.put(bld, r)
}

// check is append's first half: in json mode, an *InvalidValueError when
// r's value is not JSON text; otherwise it has read the typed columns'
// fields, for put.
func (e *rowEncoder) check(r *Record) error {
	if e.mode == ModeJSON {
		if r.Value == nil {
			return &InvalidValueError{Reason: "value is null"}
		}
		if reason, ok := e.scan.scan(r.Value); !ok {
			return &InvalidValueError{Reason: reason}
		}
	}
	return nil
}

// put is append's second half, for the record check accepted last.
func (e *rowEncoder) put(bld *array.RecordBuilder, r *Record) error {
	if bld != e.bld {
		if err := e.bind(bld); err != nil {
			return err
		}
	}
	e.part.Append(r.Partition)
	e.off.Append(r.Offset)
	e.ts.Append(arrow.Timestamp(r.Timestamp.UnixMicro()))
	appendBytes(e.key, r.Key)
	e.hdr.Append(true)
	for _, h := range r.Headers {
		e.hdrS.Append(true)
		e.hk.AppendString(h.Key)
		appendBytes(e.hv, h.Value)
	}
	appendBytes(e.val, r.Value)
	switch e.mode {
	case ModeDLQ:
		if r.Error == "" {
			e.errB.AppendNull()
		} else {
			e.errB.AppendString(r.Error)
		}
	case ModeJSON:
		for i, b := range e.typed {
			e.appendTyped(b, e.cols[i].typ, r.Value, e.scan.slots[i])
		}
	}
	return nil
}

// appendTyped appends the typed value of field sp of the JSON text v, or
// null when the field is missing, null or of another type.
func (e *rowEncoder) appendTyped(b array.Builder, typ ColumnType, v []byte, sp jsonSpan) {
	raw := v[sp.start:sp.end]
	switch typ {
	case TypeString:
		if text, ok := e.text(raw, sp.kind); ok {
			b.(*array.StringBuilder).BinaryBuilder.Append(text)
			return
		}
	case TypeLong:
		if sp.kind == kindInt {
			if n, ok := jsonLong(raw); ok {
				b.(*array.Int64Builder).Append(n)
				return
			}
		}
	case TypeDouble:
		if sp.kind == kindInt || sp.kind == kindNumber {
			if f, ok := jsonDouble(raw); ok {
				b.(*array.Float64Builder).Append(f)
				return
			}
		}
	case TypeBoolean:
		if sp.kind == kindTrue || sp.kind == kindFalse {
			b.(*array.BooleanBuilder).Append(sp.kind == kindTrue)
			return
		}
	case TypeTimestamp:
		var us int64
		ok := false
		if sp.kind == kindInt {
			us, ok = jsonTimestampMillis(raw)
		} else if text, isText := e.text(raw, sp.kind); isText {
			us, ok = jsonTimestampString(text)
		}
		if ok {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(us))
			return
		}
	}
	b.AppendNull()
}

// text is the unescaped text of a JSON string (raw with its quotes).
func (e *rowEncoder) text(raw []byte, k jsonKind) ([]byte, bool) {
	switch k {
	case kindString:
		return raw[1 : len(raw)-1], true
	case kindEscString:
		e.buf = unescape(shrink(e.buf), raw[1:len(raw)-1])
		return e.buf, true
	}
	return nil, false
}
