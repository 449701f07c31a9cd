package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxInputRecord bounds one input record of zombi produce.
const maxInputRecord = 16 << 20

// produceSummary is what zombi produce reports.
type produceSummary struct {
	Topic      string             `json:"topic" yaml:"topic"`
	Records    int64              `json:"records" yaml:"records"`
	Failed     int64              `json:"failed" yaml:"failed"`
	Partitions []producePartition `json:"partitions" yaml:"partitions"`
	Error      string             `json:"error,omitempty" yaml:"error,omitempty"`
}

type producePartition struct {
	Partition   int32 `json:"partition" yaml:"partition"`
	Records     int64 `json:"records" yaml:"records"`
	FirstOffset int64 `json:"first_offset" yaml:"first_offset"`
	LastOffset  int64 `json:"last_offset" yaml:"last_offset"`
}

// produceTally collects the produce results (promises run concurrently).
type produceTally struct {
	mu       sync.Mutex
	parts    map[int32]*producePartition
	ok       int64
	failed   int64
	firstErr error
	onFail   func()
}

func (t *produceTally) done(r *kgo.Record, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed++
		if t.firstErr == nil {
			t.firstErr = err
			t.onFail()
		}
		return
	}
	t.ok++
	p := t.parts[r.Partition]
	if p == nil {
		p = &producePartition{Partition: r.Partition, FirstOffset: r.Offset, LastOffset: r.Offset}
		t.parts[r.Partition] = p
	}
	p.Records++
	p.FirstOffset = min(p.FirstOffset, r.Offset)
	p.LastOffset = max(p.LastOffset, r.Offset)
}

func produceCommand(o *options) *cobra.Command {
	var (
		key       string
		headers   []string
		partition int32
		format    string
		file      string
	)
	c := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records from stdin or --file, one per line (acks=all)",
		Long: "Produce records read from stdin (or --file), one per line by default, with acks=all.\n\n" +
			"--format describes one input record, rpk-style: %v the value, %k the key, %p the\n" +
			"partition (decimal), %% a percent sign, the escapes \\n \\t \\r \\\\, other text literal.\n" +
			"It ends with the record delimiter (default \"%v\\n\"); each field runs up to the text\n" +
			"that follows it. -k sets the key of records whose format has no %k, -H adds headers\n" +
			"to every record, -p sends every record to one partition (else keys are hashed with\n" +
			"murmur2 as Kafka's Java client does, and records without a key go round robin, one\n" +
			"partition after the other). A missing topic is created when the broker auto-creates\n" +
			"topics (Zombi does by default).\n\n" +
			"Prints a summary (records, and per partition the offsets written); the exit status is\n" +
			"1 when any record failed (reading stops at the first failure).",
		Example: "  printf 'a\\nb\\n' | zombi produce events\n" +
			"  printf 'user1\\t{\"n\":1}\\n' | zombi produce events --format '%k\\t%v\\n' -H source=cli\n" +
			"  zombi produce events --file events.txt -p 0 -o json",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			rs, err := newRecordSplitter(format)
			if err != nil {
				return err
			}
			hdrs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			manual := cmd.Flags().Changed("partition") || rs.has('p')
			if cmd.Flags().Changed("partition") && rs.has('p') {
				return usagef("-p and a %%p in --format do not go together")
			}
			if cmd.Flags().Changed("partition") && partition < 0 {
				return usagef("-p must be a partition >= 0")
			}
			in, size, closeIn, err := o.openInput(file)
			if err != nil {
				return err
			}
			defer closeIn()
			// Auto-creation is the broker's call (as with kcat): a Kafka
			// broker with it off still refuses.
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(o.timeout),
				kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(keyedRoundRobin{})}
			if manual {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			cl, _, err := o.kafka(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()

			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			tally := &produceTally{parts: map[int32]*producePartition{}, onFail: cancel}
			bar := o.progress(size, "producing", true) // size is -1 on stdin: no bar
			if bar != nil {
				defer bar.Finish()
				in = io.TeeReader(in, bar)
			}
			sc := bufio.NewScanner(in)
			sc.Buffer(make([]byte, 64<<10), maxInputRecord)
			sc.Split(splitOn([]byte(rs.delim)))
			var readErr error
			line := 0
			for ctx.Err() == nil && sc.Scan() {
				line++
				fields, err := rs.split(sc.Bytes())
				if err != nil {
					readErr = usagef("input record %d: %w", line, err)
					break
				}
				r := &kgo.Record{Value: clone(fields['v']), Headers: hdrs, Partition: partition}
				if k, ok := fields['k']; ok {
					r.Key = clone(k)
				} else if key != "" {
					r.Key = []byte(key)
				}
				if p, ok := fields['p']; ok {
					n, err := strconv.ParseInt(string(p), 10, 32)
					if err != nil || n < 0 {
						readErr = usagef("input record %d: partition %q is not a number >= 0", line, p)
						break
					}
					r.Partition = int32(n)
				}
				cl.Produce(ctx, r, tally.done)
			}
			if err := sc.Err(); err != nil && readErr == nil {
				readErr = fmt.Errorf("read input: %w", err)
				if errors.Is(err, bufio.ErrTooLong) {
					readErr = fmt.Errorf("input record %d is longer than %d bytes", line+1, maxInputRecord)
				}
			}
			// Everything produced so far is awaited, even after a failure,
			// so the summary is complete.
			if err := cl.Flush(context.WithoutCancel(ctx)); err != nil && readErr == nil {
				readErr = err
			}
			if bar != nil {
				bar.Finish()
			}
			return o.printProduceSummary(topic, tally, readErr, cmd.Context().Err())
		},
	}
	c.Flags().StringVarP(&key, "key", "k", "", "key of every record (when --format has no %k)")
	c.Flags().StringArrayVarP(&headers, "header", "H", nil, "header name=value added to every record (repeatable)")
	c.Flags().Int32VarP(&partition, "partition", "p", -1, "partition to produce every record to (default: the partitioner's choice)")
	c.Flags().StringVarP(&format, "format", "f", "%v\\n", "input record format: %v value, %k key, %p partition, ending with the delimiter")
	c.Flags().StringVar(&file, "file", "", "read records from this file instead of stdin")
	return c
}

func (o *options) printProduceSummary(topic string, t *produceTally, readErr, interrupted error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := produceSummary{Topic: topic, Records: t.ok, Failed: t.failed, Partitions: []producePartition{}}
	for _, p := range t.parts {
		s.Partitions = append(s.Partitions, *p)
	}
	sort.Slice(s.Partitions, func(i, j int) bool { return s.Partitions[i].Partition < s.Partitions[j].Partition })
	var err error
	switch {
	case t.firstErr != nil:
		err = fmt.Errorf("produce to %s: %d record(s) failed, the first with: %w", topic, t.failed, t.firstErr)
	case readErr != nil:
		err = readErr
	case interrupted != nil:
		err = fmt.Errorf("produce to %s: interrupted", topic)
	}
	if err != nil {
		s.Error = err.Error()
	}
	if o.output == "text" {
		fmt.Fprintf(o.stdout, "produced %d record(s) to %s", s.Records, topic)
		if s.Failed > 0 {
			fmt.Fprintf(o.stdout, ", %d failed", s.Failed)
		}
		fmt.Fprintln(o.stdout)
		if len(s.Partitions) > 0 {
			tb := table{header: []string{"PARTITION", "RECORDS", "FIRST-OFFSET", "LAST-OFFSET"}}
			for _, p := range s.Partitions {
				tb.rows = append(tb.rows, []string{strconv.Itoa(int(p.Partition)), strconv.FormatInt(p.Records, 10),
					strconv.FormatInt(p.FirstOffset, 10), strconv.FormatInt(p.LastOffset, 10)})
			}
			if perr := o.print(tb); perr != nil {
				return perr
			}
		}
	} else if perr := o.print(table{values: s}); perr != nil {
		return perr
	}
	return err
}

// keyedRoundRobin hashes keyed records as Kafka's Java client does (murmur2,
// kgo's StickyKeyPartitioner) and sends unkeyed ones round robin, one record
// per partition in turn: a few lines typed into produce spread, where the
// sticky default would put a whole batch on one partition.
type keyedRoundRobin struct{}

func (keyedRoundRobin) ForTopic(topic string) kgo.TopicPartitioner {
	return &keyedRoundRobinTopic{
		keyed:   kgo.StickyKeyPartitioner(nil).ForTopic(topic),
		unkeyed: kgo.RoundRobinPartitioner().ForTopic(topic),
	}
}

type keyedRoundRobinTopic struct{ keyed, unkeyed kgo.TopicPartitioner }

func (p *keyedRoundRobinTopic) RequiresConsistency(r *kgo.Record) bool { return r.Key != nil }

func (p *keyedRoundRobinTopic) Partition(r *kgo.Record, n int) int {
	if r.Key != nil {
		return p.keyed.Partition(r, n)
	}
	return p.unkeyed.Partition(r, n)
}

// openInput opens --file (or stdin when ""), with its size for the
// progress bar (-1 when unknown).
func (o *options) openInput(file string) (io.Reader, int64, func(), error) {
	if file == "" {
		return o.stdin, -1, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("--file: %w", err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// splitOn is a bufio.SplitFunc cutting at delim; a last record without a
// delimiter counts, an empty tail does not.
func splitOn(delim []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, delim); i >= 0 {
			return i + len(delim), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

// parseHeaders reads -H name=value flags.
func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := bytes.Cut([]byte(h), []byte("="))
		if !ok || len(k) == 0 {
			return nil, usagef("-H %q: want name=value", h)
		}
		out = append(out, kgo.RecordHeader{Key: string(k), Value: v})
	}
	return out, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
