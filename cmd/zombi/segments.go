package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/tiering"
)

const segmentsUsage = `Usage:
  zombi segments ls [--table T]   one JSON line per cold segment (from the manifests)
  zombi segments cat KEY          one JSON line per record of a segment object
                                  (transaction markers as {"control":"commit"|"abort",...})

The bucket comes from ZOMBI_S3_BUCKET, ZOMBI_S3_ENDPOINT and ZOMBI_S3_REGION,
credentials from the standard AWS environment variables and files.
`

// segmentsCommand runs "zombi segments ...", the counterpart of
// "mc cat ... | jq" for Zombi's segment objects.
func segmentsCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, segmentsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cfg := tiering.Config{
		Bucket:   os.Getenv("ZOMBI_S3_BUCKET"),
		Endpoint: os.Getenv("ZOMBI_S3_ENDPOINT"),
		Region:   os.Getenv("ZOMBI_S3_REGION"),
	}
	noBucket := func() bool {
		if cfg.Bucket == "" {
			fmt.Fprintln(stderr, "zombi segments: ZOMBI_S3_BUCKET is not set")
			return true
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	switch args[0] {
	case "ls":
		// The command line is checked before the bucket.
		fs := flag.NewFlagSet("segments ls", flag.ContinueOnError)
		table := fs.String("table", "", "only this table")
		if err := parseFlags(fs, args[1:], stderr, func() { fmt.Fprint(stderr, segmentsUsage) }); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintln(stderr, "zombi segments ls:", withHint(err, "zombi segments --help"))
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "zombi segments ls: unexpected argument %q (zombi segments --help)\n", fs.Arg(0))
			return 2
		}
		if noBucket() {
			return 2
		}
		st, err := tiering.OpenS3Existing(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "zombi segments:", err)
			return 1
		}
		segs, err := tiering.ListSegments(ctx, st, *table)
		if err != nil {
			fmt.Fprintln(stderr, "zombi segments ls:", err)
			return 1
		}
		enc := json.NewEncoder(stdout)
		for _, s := range segs {
			if err := enc.Encode(s); err != nil {
				return 1
			}
		}
		return 0
	case "cat":
		if len(args) != 2 {
			fmt.Fprint(stderr, segmentsUsage)
			return 2
		}
		_, part, _, _, err := tiering.ParseSegmentKey(args[1])
		if err != nil {
			fmt.Fprintln(stderr, "zombi segments cat:", err)
			return 2
		}
		if noBucket() {
			return 2
		}
		st, err := tiering.OpenS3Existing(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "zombi segments:", err)
			return 1
		}
		bs, err := tiering.ReadSegment(ctx, st, args[1])
		if err != nil {
			fmt.Fprintln(stderr, "zombi segments cat:", err)
			return 1
		}
		w := bufio.NewWriter(stdout)
		var line []byte
		for _, b := range bs {
			h, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				fmt.Fprintf(stderr, "zombi segments cat: batch at %d: %v\n", b.BaseOffset, err)
				return 1
			}
			for i := range recs {
				// The REST API's rendering of a record, one per line; a
				// control record (a transaction marker) as what it says.
				if h.IsControl() {
					line = append(appendControl(line[:0], part, h, &recs[i]), '\n')
				} else {
					line = append(httpapi.AppendRecord(line[:0], part, &recs[i]), '\n')
				}
				if _, err := w.Write(line); err != nil {
					return 1
				}
			}
		}
		if err := w.Flush(); err != nil {
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "zombi segments: unknown command %q\n%s", args[0], segmentsUsage)
		return 2
	}
}

// appendControl renders a control record: {"control":"commit"|"abort",...}
// with the producer and the coordinator epoch of a transaction marker, or
// "control":"unknown" with the type Kafka's key gives.
func appendControl(b []byte, part int32, h batch.Header, r *batch.Record) []byte {
	c := struct {
		Control          string `json:"control"`
		Type             *int16 `json:"type,omitempty"`
		Offset           int64  `json:"offset"`
		Partition        int32  `json:"partition"`
		Timestamp        int64  `json:"timestamp_ms"`
		ProducerID       int64  `json:"producer_id"`
		ProducerEpoch    int16  `json:"producer_epoch"`
		CoordinatorEpoch *int32 `json:"coordinator_epoch,omitempty"`
	}{Control: "unknown", Offset: r.Offset, Partition: part, Timestamp: r.Timestamp, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch}
	typ, ok := batch.MarkerType(r.Key)
	switch {
	case ok && typ == batch.MarkerCommit:
		c.Control = "commit"
	case ok:
		c.Control = "abort"
	case len(r.Key) >= 4:
		c.Type = &typ
	}
	if ok && len(r.Value) >= 6 {
		e := int32(binary.BigEndian.Uint32(r.Value[2:]))
		c.CoordinatorEpoch = &e
	}
	out, err := json.Marshal(&c)
	if err != nil {
		return append(b, `{"control":"unknown"}`...) // cannot happen: plain fields
	}
	return append(b, out...)
}
