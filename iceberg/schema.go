package iceberg

import (
	"fmt"

	"github.com/apache/iceberg-go"
)

// Field ids are a contract (DESIGN.md, "Iceberg (contract)"): they never
// change and are never reused. 1-6 are the top-level columns; 7, 8 and 9 are
// the nested ids of _headers (its list element, the element's key and
// value), so typed JSON columns (a later slice) start at FirstTypedFieldID.
const (
	FieldPartition    = 1
	FieldOffset       = 2
	FieldTimestamp    = 3
	FieldKey          = 4
	FieldHeaders      = 5
	FieldValue        = 6
	FieldHeader       = 7 // the list element of _headers
	FieldHeaderKey    = 8
	FieldHeaderValue  = 9
	FirstTypedFieldID = 10

	// partitionFieldID is the id of the single partition field (Iceberg
	// numbers partition fields from 1000).
	partitionFieldID = 1000
)

// Schema is the raw-mode table schema: _partition int, _offset long,
// _timestamp timestamptz (all required), _key binary,
// _headers list<struct<key string, value binary>>, value binary.
func Schema() *iceberg.Schema {
	header := &iceberg.StructType{FieldList: []iceberg.NestedField{
		{ID: FieldHeaderKey, Name: "key", Type: iceberg.PrimitiveTypes.String},
		{ID: FieldHeaderValue, Name: "value", Type: iceberg.PrimitiveTypes.Binary},
	}}
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: FieldPartition, Name: "_partition", Type: iceberg.PrimitiveTypes.Int32, Required: true},
		iceberg.NestedField{ID: FieldOffset, Name: "_offset", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: FieldTimestamp, Name: "_timestamp", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
		iceberg.NestedField{ID: FieldKey, Name: "_key", Type: iceberg.PrimitiveTypes.Binary},
		iceberg.NestedField{ID: FieldHeaders, Name: "_headers", Type: &iceberg.ListType{ElementID: FieldHeader, Element: header, ElementRequired: true}},
		iceberg.NestedField{ID: FieldValue, Name: "value", Type: iceberg.PrimitiveTypes.Binary},
	)
}

// Partitioning is the topic config zombi.iceberg.partition.
type Partitioning string

const (
	PartitionDay  Partitioning = "day" // the default
	PartitionHour Partitioning = "hour"
	PartitionNone Partitioning = "none"
)

// ParsePartitioning accepts day, hour or none; "" is day.
func ParsePartitioning(s string) (Partitioning, error) {
	switch p := Partitioning(s); p {
	case "":
		return PartitionDay, nil
	case PartitionDay, PartitionHour, PartitionNone:
		return p, nil
	}
	return "", fmt.Errorf("zombi.iceberg.partition %q: want day, hour or none", s)
}

// Spec is the partition spec of p: day(_timestamp), hour(_timestamp) or
// unpartitioned.
func (p Partitioning) Spec() iceberg.PartitionSpec {
	switch p {
	case PartitionHour:
		return iceberg.NewPartitionSpecID(0, iceberg.PartitionField{SourceIDs: []int{FieldTimestamp}, FieldID: partitionFieldID, Name: "_timestamp_hour", Transform: iceberg.HourTransform{}})
	case PartitionNone:
		return iceberg.NewPartitionSpecID(0)
	}
	return iceberg.NewPartitionSpecID(0, iceberg.PartitionField{SourceIDs: []int{FieldTimestamp}, FieldID: partitionFieldID, Name: "_timestamp_day", Transform: iceberg.DayTransform{}})
}

// bucket is the partition value of a timestamp in microseconds (days or
// hours since the epoch; 0 when unpartitioned): one data file never spans
// two buckets.
func (p Partitioning) bucket(micros int64) int64 {
	const hour = int64(3600_000_000)
	switch p {
	case PartitionHour:
		return floorDiv(micros, hour)
	case PartitionNone:
		return 0
	}
	return floorDiv(micros, 24*hour)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
