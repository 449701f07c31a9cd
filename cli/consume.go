package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/internal/seek"
	"github.com/zombi-dev/zombi/log/batch"
)

// startSpec is where zombi consume -o starts each partition.
type startSpec struct {
	target  seek.Target // start, end, an offset or a time
	fromEnd int64       // > 0: that many records before the end instead
	kgo     kgo.Offset  // the same for a group's reset offset
}

// parseStart reads -o: start, end, N, -N (N before the end), @TIMESTAMP
// (milliseconds or RFC 3339) and @-DURATION (now minus a duration).
func parseStart(s string, now time.Time) (startSpec, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@-"); ok {
		d, err := seek.ParseDuration(rest)
		if err != nil || d <= 0 {
			return startSpec{}, usagef("-o %q: @-DURATION wants a duration like @-1h, @-15m or @-2d", s)
		}
		ms := now.Add(-d).UnixMilli()
		return startSpec{target: seek.Target{Kind: seek.Time, TimeMs: ms}, kgo: kgo.NewOffset().AfterMilli(ms)}, nil
	}
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		if n, err := strconv.ParseInt(rest, 10, 64); err == nil && n > 0 {
			return startSpec{fromEnd: n, kgo: kgo.NewOffset().AtEnd().Relative(-n)}, nil
		}
	}
	t, err := seek.Parse(s, now)
	if err != nil {
		return startSpec{}, usagef("-o %q: want start, end, N, -N, @TIMESTAMP (ms or RFC 3339) or @-DURATION", s)
	}
	sp := startSpec{target: t}
	switch t.Kind {
	case seek.Start:
		sp.kgo = kgo.NewOffset().AtStart()
	case seek.End:
		sp.kgo = kgo.NewOffset().AtEnd()
	case seek.Offset:
		sp.kgo = kgo.NewOffset().At(t.Offset)
	case seek.Time:
		sp.kgo = kgo.NewOffset().AfterMilli(t.TimeMs)
	}
	return sp, nil
}

// resolve is the first offset of one partition.
func (sp startSpec) resolve(logStart, hwm, timeOffset int64) int64 {
	if sp.fromEnd > 0 {
		return max(hwm-sp.fromEnd, logStart)
	}
	return sp.target.Resolve(logStart, hwm, timeOffset)
}

type tp struct {
	topic string
	part  int32
}

// consumePlan is what consume reads: every partition's first offset and
// the high watermark seen at the start (where it stops without --follow).
type consumePlan struct {
	start    map[tp]int64
	end      map[tp]int64
	logStart map[tp]int64
}

func consumeCommand(o *options) *cobra.Command {
	var (
		offset string
		num    int
		parts  []int32
		group  string
		follow bool
		format string
	)
	c := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Print records (as GET /tables/{t} does, or with an rpk-style --format)",
		Long: "Print the records of topics, from -o to the end each partition had when the command\n" +
			"started (--follow: keep waiting for new ones, until -n records or Ctrl-C). Only\n" +
			"committed records (read_committed): an open transaction's records appear once it\n" +
			"commits, aborted ones never, as in GET /tables/{t}.\n\n" +
			"-o: start (default), end, N (an offset), -N (N records before the end, per partition),\n" +
			"@TIMESTAMP (milliseconds or RFC 3339: the first record at or after it) or @-DURATION\n" +
			"(like @-1h or @-2d: from that long ago).\n\n" +
			"-g GROUP consumes as a member of that consumer group and commits what it printed;\n" +
			"-o is then where partitions without a committed offset start.\n\n" +
			"--format json (default) prints one JSON object per record, exactly as Zombi's\n" +
			"GET /tables/{t} renders a record. Else an rpk-style format: %t topic, %k key, %v value,\n" +
			"%p partition, %o offset, %d timestamp (ms), %h headers (name=value, comma separated),\n" +
			"%% a percent sign, and the escapes \\n \\t \\r \\\\.",
		Example: "  zombi consume events -n 10\n" +
			"  zombi consume events -o -5 -p 0 --format '%p/%o %k=%v\\n'\n" +
			"  zombi consume events -o @-1h --follow\n" +
			"  zombi consume events -g audit",
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			var toks []fmtToken
			if format == "" {
				return usagef("--format is empty: give json or an rpk-style format like '%%v\\n'")
			}
			if format != "json" {
				var err error
				if toks, err = parseFormat(format, "tkvpodh"); err != nil {
					return err
				}
			}
			sp, err := parseStart(offset, time.Now())
			if err != nil {
				return err
			}
			if num < 0 {
				return usagef("-n must be >= 0")
			}
			if group != "" && len(parts) > 0 {
				return usagef("-p and -g do not go together: the group assigns the partitions")
			}
			cr := &consumeRun{o: o, topics: topics, num: num, follow: follow, toks: toks, group: group, assigned: map[tp]bool{}}
			return cr.run(cmd.Context(), sp, parts)
		},
	}
	c.Flags().StringVarP(&offset, "offset", "o", "start", "where to start: start, end, N, -N, @TIMESTAMP or @-DURATION")
	c.Flags().IntVarP(&num, "num", "n", 0, "stop after this many records (0: no limit)")
	c.Flags().Int32SliceVarP(&parts, "partitions", "p", nil, "only these partitions (comma separated or repeated)")
	c.Flags().StringVarP(&group, "group", "g", "", "consume as a member of this group, committing what is printed")
	c.Flags().BoolVar(&follow, "follow", false, "keep waiting for new records")
	c.Flags().StringVarP(&format, "format", "f", "json", "json, or an rpk-style format like '%k %v\\n'")
	// -o is the offset here (as in rpk); the output format of listings is
	// not this command's business. Declaring --output locally keeps the
	// global -o shorthand off this command.
	c.Flags().StringVar(&o.output, "output", "text", "unused by consume (see --format)")
	_ = c.Flags().MarkHidden("output")
	return c
}

// consumeRun is one run of zombi consume.
type consumeRun struct {
	o      *options
	topics []string
	num    int
	follow bool
	toks   []fmtToken // nil: json
	group  string

	lastWarn time.Time // follow: the last "retrying" line on stderr

	mu       sync.Mutex
	plan     consumePlan
	pos      map[tp]int64 // next offset to print, per partition
	assigned map[tp]bool  // group mode: partitions this member holds
	joined   bool
	wake     context.CancelFunc // interrupts a poll when done changes
}

func (cr *consumeRun) run(ctx context.Context, sp startSpec, parts []int32) error {
	o := cr.o
	// The plan comes from an admin client of its own: the consuming
	// client must not start fetching before it knows where to.
	admCl, adm, err := o.kafka()
	if err != nil {
		return err
	}
	plan, err := planConsume(ctx, adm, cr.topics, parts, sp)
	if err == nil && cr.group != "" {
		err = cr.applyCommitted(ctx, adm, &plan)
	}
	admCl.Close()
	if err != nil {
		return err
	}
	cr.plan = plan
	cr.pos = map[tp]int64{}
	for k, v := range plan.start {
		cr.pos[k] = v
	}
	if !cr.follow && cr.allDone(false) {
		return nil // nothing between the start and the end
	}

	// Committed records only, as GET /tables/{t}; the control records
	// (transaction markers) are kept to move past them: a partition may end
	// with one, and the run ends when every partition is past its end.
	opts := []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()}
	if cr.group == "" {
		m := map[string]map[int32]kgo.Offset{}
		for k, start := range plan.start {
			if m[k.topic] == nil {
				m[k.topic] = map[int32]kgo.Offset{}
			}
			m[k.topic][k.part] = kgo.NewOffset().At(start)
		}
		opts = append(opts, kgo.ConsumePartitions(m))
	} else {
		opts = append(opts, kgo.ConsumerGroup(cr.group), kgo.ConsumeTopics(cr.topics...), kgo.ConsumeResetOffset(sp.kgo),
			kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { cr.assign(m, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { cr.assign(m, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { cr.assign(m, false) }))
	}
	cl, _, err := o.kafka(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	runErr := cr.loop(ctx, cl)
	if cr.group != "" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("commit offsets of group %s: %w", cr.group, err)
		}
		cl.LeaveGroup()
	}
	return runErr
}

func (cr *consumeRun) loop(ctx context.Context, cl *kgo.Client) error {
	o := cr.o
	w := bufio.NewWriterSize(o.stdout, 64<<10)
	defer w.Flush()
	bar := o.progress(int64(cr.num), "consuming", false)
	if bar != nil {
		defer bar.Finish() // on the error returns too
	}
	printed := 0
	var line []byte
	var marks []*kgo.Record
	for {
		if cr.num > 0 && printed >= cr.num {
			break
		}
		pctx, wake := context.WithCancel(ctx)
		cr.mu.Lock()
		cr.wake = wake
		cr.mu.Unlock()
		// Checked after wake is published: an assignment that completes the
		// run either happened before (seen here) or cancels this poll.
		if !cr.follow && cr.allDone(cr.group != "") {
			wake()
			break
		}
		fetches := cl.PollFetches(pctx)
		wake()
		if ctx.Err() != nil {
			if cr.follow {
				return nil // Ctrl-C ends a follow
			}
			return fmt.Errorf("consume: interrupted after %d record(s)", printed)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr != nil || errors.Is(err, context.Canceled) {
				return
			}
			if cr.follow && !fatalWhileFollowing(err) {
				// A server restart or a lost group session: kgo keeps
				// retrying (rejoining the group); --follow waits for it.
				cr.warnRetrying(err)
				return
			}
			ferr = fmt.Errorf("consume %s[%d]: %w", t, p, err)
			if t == "" {
				ferr = fmt.Errorf("consume: %w", err) // the group session's error
			}
		})
		if ferr != nil {
			return ferr
		}
		stop := false
		marks = marks[:0]
		fetches.EachRecord(func(r *kgo.Record) {
			if stop {
				return
			}
			k := tp{r.Topic, r.Partition}
			cr.mu.Lock()
			end, known := cr.plan.end[k]
			if !cr.follow && known && r.Offset >= end {
				cr.mu.Unlock()
				return // past the end seen at the start
			}
			if cr.group != "" && r.Offset < cr.pos[k] {
				// Printed already: the group handed the partition back
				// from an older commit (a rejoin after a restart). Marked
				// again, so that this commit is not lost.
				cr.mu.Unlock()
				marks = append(marks, r)
				return
			}
			cr.pos[k] = r.Offset + 1
			if r.Attrs.IsControl() {
				cr.mu.Unlock()
				if cr.group != "" {
					marks = append(marks, r)
				}
				return // a marker: moves the position, prints nothing
			}
			cr.mu.Unlock()
			line = cr.render(line[:0], r)
			_, _ = w.Write(line)
			if cr.group != "" {
				marks = append(marks, r)
			}
			printed++
			if bar != nil {
				bar.Add(1)
			}
			if cr.num > 0 && printed >= cr.num {
				stop = true
			}
		})
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		// Marked once written out: the commit (every second, and at the
		// end) never runs ahead of what was printed.
		if len(marks) > 0 {
			cl.MarkCommitRecords(marks...)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	return nil
}

// fatalWhileFollowing reports whether a fetch or group error ends a
// --follow: refusals (authorization, a deleted topic's kind of errors kerr
// calls not retriable) do; a dropped connection, a refused dial or a lost
// group session do not, kgo retries those.
func fatalWhileFollowing(err error) bool {
	if errors.Is(err, kgo.ErrClientClosed) {
		return true
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return !ke.Retriable && !errors.Is(err, kerr.RebalanceInProgress) && !errors.Is(err, kerr.UnknownMemberID) &&
			!errors.Is(err, kerr.IllegalGeneration) && !errors.Is(err, kerr.NotCoordinator) && !errors.Is(err, kerr.CoordinatorNotAvailable)
	}
	return false
}

// warnRetrying says on stderr (at most every 10 s) why nothing arrives.
func (cr *consumeRun) warnRetrying(err error) {
	if time.Since(cr.lastWarn) < 10*time.Second {
		return
	}
	cr.lastWarn = time.Now()
	fmt.Fprintf(cr.o.stderr, "zombi: consume: %v (retrying)\n", err)
}

// render appends one record in the chosen format.
func (cr *consumeRun) render(b []byte, r *kgo.Record) []byte {
	if cr.toks == nil {
		br := batch.Record{Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value}
		if len(r.Headers) > 0 {
			br.Headers = make([]batch.RecordHeader, len(r.Headers))
			for i, h := range r.Headers {
				br.Headers[i] = batch.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		return append(httpapi.AppendRecord(b, r.Partition, &br), '\n')
	}
	for _, t := range cr.toks {
		switch t.field {
		case 0:
			b = append(b, t.lit...)
		case 't':
			b = append(b, r.Topic...)
		case 'k':
			b = append(b, r.Key...)
		case 'v':
			b = append(b, r.Value...)
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'd':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, h.Key...)
				b = append(b, '=')
				b = append(b, h.Value...)
			}
		}
	}
	return b
}

// assign tracks a group member's partitions and wakes the poll when that
// completes the run.
func (cr *consumeRun) assign(m map[string][]int32, add bool) {
	cr.mu.Lock()
	for t, ps := range m {
		for _, p := range ps {
			if add {
				cr.assigned[tp{t, p}] = true
			} else {
				delete(cr.assigned, tp{t, p})
			}
		}
	}
	if add {
		cr.joined = true
	}
	wake := cr.wake
	cr.mu.Unlock()
	if add && !cr.follow && cr.allDone(true) && wake != nil {
		wake()
	}
}

// allDone reports whether every partition (in group mode, once joined:
// every partition this member holds) reached the end seen at the start.
func (cr *consumeRun) allDone(groupMode bool) bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if groupMode {
		if !cr.joined {
			return false
		}
		for k := range cr.assigned {
			if end, ok := cr.plan.end[k]; ok && cr.pos[k] < end {
				return false
			}
		}
		return true
	}
	for k, end := range cr.plan.end {
		if cr.pos[k] < end {
			return false
		}
	}
	return true
}

// planConsume finds the partitions of topics (only parts when given), their
// first offsets for sp and their high watermarks.
func planConsume(ctx context.Context, adm *kadm.Client, topics []string, parts []int32, sp startSpec) (consumePlan, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return consumePlan{}, fmt.Errorf("metadata: %w", err)
	}
	want := map[int32]bool{}
	for _, p := range parts {
		want[p] = true
	}
	plan := consumePlan{start: map[tp]int64{}, end: map[tp]int64{}, logStart: map[tp]int64{}}
	for _, t := range topics {
		d, ok := md.Topics[t]
		if !ok || d.Err != nil {
			err := d.Err
			if err == nil {
				err = errors.New("not in the broker's metadata")
			}
			return consumePlan{}, fmt.Errorf("topic %s: %w", t, err)
		}
		have := map[int32]bool{}
		for _, p := range d.Partitions.Numbers() {
			have[p] = true
		}
		for p := range want {
			if !have[p] {
				return consumePlan{}, usagef("topic %s has no partition %d (it has %d)", t, p, len(have))
			}
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return consumePlan{}, fmt.Errorf("list start offsets: %w", err)
	}
	// The last stable offsets: a read_committed consumer gets nothing past
	// them until the open transactions end.
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return consumePlan{}, fmt.Errorf("list end offsets: %w", err)
	}
	var times kadm.ListedOffsets
	if sp.fromEnd == 0 && sp.target.Kind == seek.Time {
		if times, err = adm.ListOffsetsAfterMilli(ctx, sp.target.TimeMs, topics...); err == nil {
			err = times.Error()
		}
		if err != nil {
			return consumePlan{}, fmt.Errorf("list offsets at %d ms: %w", sp.target.TimeMs, err)
		}
	}
	ends.Each(func(e kadm.ListedOffset) {
		if len(want) > 0 && !want[e.Partition] {
			return
		}
		k := tp{e.Topic, e.Partition}
		logStart := int64(0)
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
			logStart = s.Offset
		}
		timeOffset := int64(-1)
		if to, ok := times.Lookup(e.Topic, e.Partition); ok {
			timeOffset = to.Offset
		}
		plan.end[k] = e.Offset
		plan.logStart[k] = logStart
		plan.start[k] = sp.resolve(logStart, e.Offset, timeOffset)
	})
	return plan, nil
}

// applyCommitted starts a group's partitions at their committed offsets
// (what the group member will resume from), for the done check.
func (cr *consumeRun) applyCommitted(ctx context.Context, adm *kadm.Client, plan *consumePlan) error {
	committed, err := adm.FetchOffsets(ctx, cr.group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return fmt.Errorf("fetch offsets of group %s: %w", cr.group, err)
	}
	committed.Each(func(r kadm.OffsetResponse) {
		k := tp{r.Topic, r.Partition}
		// A commit below the log start is out of range: the member starts
		// where -o says, as the planned start already is.
		if _, ok := plan.end[k]; ok && r.At >= plan.logStart[k] {
			plan.start[k] = min(r.At, plan.end[k])
		}
	})
	return nil
}

// sortedTPs returns keys in topic, partition order.
func sortedTPs[V any](m map[tp]V) []tp {
	out := make([]tp, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].part < out[j].part
	})
	return out
}
