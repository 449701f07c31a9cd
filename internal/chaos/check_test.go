package chaos

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// clean is a ledger of 3 records on 2 partitions, each acked once and read
// by a group (once re-read) and by the final pass.
func clean() *Ledger {
	l := NewLedger()
	l.AddAck(Ack{Key: "a", Partition: 0, Offset: 0, At: at(0), Producer: "p"})
	l.AddAck(Ack{Key: "b", Partition: 0, Offset: 1, At: at(10), Producer: "p"})
	l.AddAck(Ack{Key: "c", Partition: 1, Offset: 0, At: at(20), Producer: "q"})
	for _, reader := range []string{"group", "group", FinalReader} {
		l.AddRead(Read{Reader: reader, Partition: 0, Offset: 0, Key: "a", Value: "va"})
		l.AddRead(Read{Reader: reader, Partition: 0, Offset: 1, Key: "b", Value: "vb"})
		l.AddRead(Read{Reader: reader, Partition: 1, Offset: 0, Key: "c", Value: "vc"})
	}
	l.setFinalEnds(map[int32]int64{0: 2, 1: 1})
	return l
}

func TestCheckClean(t *testing.T) {
	l := clean()
	l.AddFailure(Failure{Key: "d", Partition: -1, Producer: "p", Err: "timeout", At: at(30)})
	// d failed but made it: in doubt, not an anomaly.
	l.AddRead(Read{Reader: FinalReader, Partition: 1, Offset: 1, Key: "d", Value: "vd"})
	r := l.Check()
	if err := r.Err(); err != nil {
		t.Fatalf("clean ledger: %v\n%s", err, r)
	}
	if r.Acked != 3 || r.Failures != 1 || r.UnackedRead != 1 || !r.FinalPass {
		t.Fatalf("counts: acked %d failures %d unacked-read %d final %v, want 3 1 1 true", r.Acked, r.Failures, r.UnackedRead, r.FinalPass)
	}
	if st := r.Readers["group"]; st.Reads != 6 || st.Unseen != 0 {
		t.Fatalf("group stats %+v, want 6 reads, 0 unseen", st)
	}
	if r.FailedWith("timeout") != 1 || r.FailedWith("NOT_ENOUGH_REPLICAS") != 0 || !strings.Contains(r.String(), "1x timeout") {
		t.Fatalf("failure kinds %v, want 1x timeout in the table:\n%s", r.FailureErrors, r)
	}
	if l.Unseen("group") != 0 || l.Unseen("nobody") != 3 {
		t.Fatalf("Unseen: group %d nobody %d, want 0 and 3", l.Unseen("group"), l.Unseen("nobody"))
	}
}

func TestCheckLost(t *testing.T) {
	l := clean()
	l.AddAck(Ack{Key: "e", Partition: 1, Offset: 1, At: at(40), Producer: "q"})
	// The group saw e, the final pass did not: the log lost it later.
	l.AddRead(Read{Reader: "group", Partition: 1, Offset: 1, Key: "e", Value: "ve"})
	r := l.Check()
	if len(r.Lost) != 1 || r.Lost[0].Key != "e" {
		t.Fatalf("lost %v, want [e]\n%s", r.Lost, r)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "1 acknowledged records lost") {
		t.Fatalf("Err() = %v, want lost", err)
	}
	if len(r.Duplicated)+len(r.Reused)+len(r.Misplaced) != 0 {
		t.Fatalf("only lost expected:\n%s", r)
	}
	if !strings.Contains(r.String(), `lost: "e" acked at 1@1`) {
		t.Fatalf("table does not name the lost record:\n%s", r)
	}
}

func TestCheckLostWithoutFinalPass(t *testing.T) {
	l := NewLedger()
	l.AddAck(Ack{Key: "a", Partition: 0, Offset: 0, At: at(0)})
	l.AddAck(Ack{Key: "b", Partition: 0, Offset: 1, At: at(1)})
	l.AddRead(Read{Reader: "group", Partition: 0, Offset: 0, Key: "a", Value: "va"})
	r := l.Check()
	if r.FinalPass || len(r.Lost) != 1 || r.Lost[0].Key != "b" {
		t.Fatalf("without a final pass any reader decides: lost %v final %v", r.Lost, r.FinalPass)
	}
}

func TestCheckDuplicated(t *testing.T) {
	l := clean()
	// b written twice: once at its ack, once more (a retry not deduplicated).
	l.AddRead(Read{Reader: FinalReader, Partition: 0, Offset: 2, Key: "b", Value: "vb"})
	r := l.Check()
	if len(r.Duplicated) != 1 || r.Duplicated[0].Key != "b" || len(r.Duplicated[0].At) != 2 {
		t.Fatalf("duplicated %v, want b at two positions\n%s", r.Duplicated, r)
	}
	if len(r.Misplaced) != 1 || r.Misplaced[0].ReadAt != (Position{0, 2}) {
		t.Fatalf("misplaced %v, want b read at 0@2", r.Misplaced)
	}
	if len(r.Lost) != 0 || len(r.Reused) != 0 {
		t.Fatalf("nothing lost or reused:\n%s", r)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "1 keys duplicated") {
		t.Fatalf("Err() = %v, want duplicated", err)
	}
}

func TestCheckUnackedDuplicate(t *testing.T) {
	l := clean()
	l.AddRead(Read{Reader: FinalReader, Partition: 1, Offset: 1, Key: "x", Value: "vx"})
	l.AddRead(Read{Reader: FinalReader, Partition: 1, Offset: 2, Key: "x", Value: "vx"})
	r := l.Check()
	if len(r.Duplicated) != 1 || len(r.Misplaced) != 0 || r.Err() == nil {
		t.Fatalf("an unacked key at two offsets is a duplicate (not misplaced): %v %v", r.Duplicated, r.Misplaced)
	}
}

func TestCheckReused(t *testing.T) {
	l := clean()
	// The group read c at 1@0; after a truncation the final pass finds z there.
	h := l.History()
	for i := range h.Reads {
		if h.Reads[i].Reader == FinalReader && h.Reads[i].Key == "c" {
			h.Reads[i].Key, h.Reads[i].Value = "z", "vz"
		}
	}
	r := Check(h)
	if len(r.Reused) != 1 || r.Reused[0].At != (Position{1, 0}) || len(r.Reused[0].Records) != 2 {
		t.Fatalf("reused %v, want 1@0 with two records\n%s", r.Reused, r)
	}
	if len(r.Lost) != 1 || r.Lost[0].Key != "c" {
		t.Fatalf("c is lost too: %v", r.Lost)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "1 offsets reused") {
		t.Fatalf("Err() = %v, want reused", err)
	}

	// Same key, another value: reused as well.
	l = clean()
	l.AddRead(Read{Reader: "group2", Partition: 0, Offset: 0, Key: "a", Value: "other"})
	if r := l.Check(); len(r.Reused) != 1 {
		t.Fatalf("a value change at one offset is reuse: %v", r.Reused)
	}

	// Two keys acknowledged at one offset.
	l = clean()
	l.AddAck(Ack{Key: "y", Partition: 0, Offset: 1, At: at(50)})
	if r := l.Check(); len(r.Reused) != 1 || !strings.Contains(r.Reused[0].Records[1], "(acked)") {
		t.Fatalf("two acks at one offset are reuse: %v", r.Reused)
	}
}

func TestCheckMisplaced(t *testing.T) {
	l := NewLedger()
	l.AddAck(Ack{Key: "a", Partition: 0, Offset: 5, At: at(0)})
	l.AddRead(Read{Reader: FinalReader, Partition: 0, Offset: 4, Key: "a", Value: "va"})
	l.setFinalEnds(map[int32]int64{0: 5})
	r := l.Check()
	if len(r.Misplaced) != 1 || r.Misplaced[0].ReadAt != (Position{0, 4}) || len(r.Lost) != 1 {
		t.Fatalf("misplaced %v lost %v, want a at 0@4 and lost at 0@5\n%s", r.Misplaced, r.Lost, r)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "misplaced") {
		t.Fatalf("Err() = %v, want misplaced", err)
	}
}

// acksEvery acks on partition p every step ms in [from, to].
func acksEvery(l *Ledger, p int32, from, to, step int) {
	for ms := from; ms <= to; ms += step {
		l.AddAck(Ack{Key: "k", Partition: p, Offset: int64(ms), At: at(ms)})
	}
}

func TestFaultGaps(t *testing.T) {
	l := NewLedger()
	// Partition 0: acks every 100 ms, none from 1000 to 4000 (down 1.5 s..3.5 s).
	acksEvery(l, 0, 0, 1000, 100)
	acksEvery(l, 0, 4000, 6000, 100)
	// Partition 1 fails over faster: a gap from 1000 to 2000, then 2050 after.
	acksEvery(l, 1, 0, 1000, 100)
	acksEvery(l, 1, 2000, 6000, 50)
	// Partition 2 is not a victim and keeps going.
	acksEvery(l, 2, 0, 6000, 10)
	l.AddFault(Fault{Name: "kill", Start: at(1050), End: at(3500), Partitions: []int32{0, 1}})
	// A fault whose victim partition acks all along: small gap.
	l.AddFault(Fault{Name: "follower", Start: at(1050), End: at(3500), Partitions: []int32{2}})
	// Partition 0 never acks after 6000: not recovered, the gap runs to Taken.
	l.AddFault(Fault{Name: "late", Start: at(5500), End: at(7000), Partitions: []int32{0}})
	// A kill whose failover happens by itself: End == Start.
	l.AddFault(Fault{Name: "instant", Start: at(1050), End: at(1050), Partitions: []int32{1}})
	h := l.History()
	h.Taken = at(9000)
	r := Check(h)
	if len(r.Faults) != 4 {
		t.Fatalf("faults %d, want 4", len(r.Faults))
	}
	kill := r.Faults[0]
	if kill.Gap != 3000*time.Millisecond || kill.Partition != 0 || !kill.Recovered || !kill.From.Equal(at(1000)) || !kill.To.Equal(at(4000)) {
		t.Fatalf("kill: gap %v on p%d from %v to %v recovered %v, want 3s on p0 from +1s to +4s", kill.Gap, kill.Partition, kill.From, kill.To, kill.Recovered)
	}
	if kill.Partitions[1] != time.Second {
		t.Fatalf("kill: p1 gap %v, want 1s", kill.Partitions[1])
	}
	if f := r.Faults[1]; f.Gap != 10*time.Millisecond || !f.Recovered {
		t.Fatalf("follower: gap %v recovered %v, want 10ms true", f.Gap, f.Recovered)
	}
	if f := r.Faults[2]; f.Recovered || f.Gap != 3000*time.Millisecond {
		t.Fatalf("late: gap %v recovered %v, want 3s (6s..Taken 9s) and not recovered", f.Gap, f.Recovered)
	}
	if f := r.Faults[3]; f.Gap != time.Second || !f.Recovered {
		t.Fatalf("instant: gap %v recovered %v, want 1s true", f.Gap, f.Recovered)
	}
	// Without victims every partition that acked counts.
	h.Faults = []Fault{{Name: "all", Start: at(1050), End: at(3500)}}
	if f := Check(h).Faults[0]; f.Gap != 3000*time.Millisecond || len(f.Partitions) != 3 {
		t.Fatalf("all partitions: gap %v over %d partitions, want 3s over 3", f.Gap, len(f.Partitions))
	}
	s := r.String()
	for _, want := range []string{"kill", "3s (p0)", "0:3s 1:1s", "false"} {
		if !strings.Contains(s, want) {
			t.Fatalf("table lacks %q:\n%s", want, s)
		}
	}
}

func TestFaultGapNoAcksBefore(t *testing.T) {
	l := NewLedger()
	acksEvery(l, 0, 2000, 3000, 100)
	l.AddFault(Fault{Name: "early", Start: at(500), End: at(1000), Partitions: []int32{0}})
	h := l.History()
	h.Taken = at(5000)
	// No ack before the start: the gap starts at Start.
	if f := Check(h).Faults[0]; f.Gap != 1500*time.Millisecond || !f.From.Equal(at(500)) {
		t.Fatalf("gap %v from %v, want 1.5s from Start", f.Gap, f.From)
	}
}

func TestStartFault(t *testing.T) {
	l := NewLedger()
	healed := l.StartFault("kill-1", 0, 2)
	healed()
	healed() // once only
	h := l.History()
	if len(h.Faults) != 1 || h.Faults[0].Name != "kill-1" || h.Faults[0].End.Before(h.Faults[0].Start) || len(h.Faults[0].Partitions) != 2 {
		t.Fatalf("faults %+v", h.Faults)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	l := NewLedger()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				k := string(rune('a'+g)) + "-" + time.Duration(i).String()
				l.AddAck(Ack{Key: k, Partition: int32(g), Offset: int64(i), At: time.Now()})
				l.AddRead(Read{Reader: "group", Partition: int32(g), Offset: int64(i), Key: k, Value: k})
				_ = l.Unseen("group")
			}
		}()
	}
	for range 4 {
		<-done
	}
	if r := l.Check(); r.Acked != 2000 || r.Err() != nil || r.Readers["group"].Unseen != 0 {
		t.Fatalf("concurrent ledger: %v\n%s", r.Err(), r)
	}
}

func TestFaultGapByProducer(t *testing.T) {
	l := NewLedger()
	for ms := 0; ms <= 6000; ms += 100 {
		if ms <= 1000 || ms >= 2000 {
			l.AddAck(Ack{Key: "k", Partition: 0, Offset: int64(ms), At: at(ms), Producer: "fast"})
		}
		if ms <= 1000 || ms >= 4000 {
			l.AddAck(Ack{Key: "k", Partition: 0, Offset: int64(ms) + 1, At: at(ms), Producer: "slow"})
		}
	}
	l.AddFault(Fault{Name: "kill", Start: at(1050), End: at(1050), Partitions: []int32{0}})
	h := l.History()
	h.Taken = at(9000)
	f := Check(h).Faults[0]
	if f.Gap != time.Second || f.ByProducer["fast"] != time.Second || f.ByProducer["slow"] != 3*time.Second {
		t.Fatalf("gap %v, by producer %v; want 1s, fast 1s, slow 3s", f.Gap, f.ByProducer)
	}
}
