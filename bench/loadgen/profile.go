// Package loadgen is Zombi's load generator: traffic profiles (steady,
// bursty, spike, stress), a worker pool that paces operations against a
// target, HDR-histogram latency recording and the report printed by
// `zombi bench` and the peer benchmark.
package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// Profile names a traffic shape. The shapes are those of the spec's Python
// producer (tools/producer): bursty, steady, spike and stress.
type Profile string

// The four profiles.
const (
	// Steady sends at a constant rate (default 10 records/s).
	Steady Profile = "steady"
	// Bursty sends random bursts of 50-200 records, as fast as the workers
	// can, with 0.5-2 s between the starts of two bursts (about 100
	// records/s on average). A rate scales the burst sizes so that the
	// mean rate is that rate.
	Bursty Profile = "bursty"
	// Spike sends at a base rate (default 10 records/s) and at 10x that
	// rate for one second in every five (the third second of each cycle).
	Spike Profile = "spike"
	// Stress sends as fast as the workers can: no pacing at all.
	Stress Profile = "stress"
)

// Profiles lists the profiles in the order help texts show them.
var Profiles = []Profile{Steady, Bursty, Spike, Stress}

// ParseProfile accepts a profile name, case-insensitively.
func ParseProfile(s string) (Profile, error) {
	p := Profile(strings.ToLower(strings.TrimSpace(s)))
	for _, q := range Profiles {
		if p == q {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown profile %q (want one of steady, bursty, spike, stress)", s)
}

// Default rates and shapes of the paced profiles.
const (
	DefaultSteadyRate = 10.0 // records/s
	DefaultSpikeRate  = 10.0 // records/s outside a spike
	SpikeFactor       = 10.0
	SpikeCycle        = 5 * time.Second
	SpikeStart        = 2 * time.Second // offset of the spike inside a cycle
	SpikeLength       = 1 * time.Second
	BurstMin          = 50
	BurstMax          = 200
	BurstGapMin       = 500 * time.Millisecond
	BurstGapMax       = 2 * time.Second
	// burstMeanRate is the mean rate of the bursty profile at its default
	// sizes: a mean burst of 125 records every 1.25 s.
	burstMeanRate = 100.0
)

// Schedule paces records: At(n) is the earliest time, from the start of the
// run, at which record n (counting from 0) may be sent. Unpaced reports
// whether every record may go at once (then At is never consulted).
type Schedule interface {
	At(n int64) time.Duration
	Unpaced() bool
}

// NewSchedule returns the schedule of a profile. rate is the base rate in
// records/s; 0 takes the profile's default. seed fixes the bursty profile's
// random sizes and gaps, so that a run can be repeated.
func NewSchedule(p Profile, rate float64, seed uint64) (Schedule, error) {
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("rate must be a positive number, got %v", rate)
	}
	switch p {
	case Steady:
		if rate == 0 {
			rate = DefaultSteadyRate
		}
		return steady{rate: rate}, nil
	case Spike:
		if rate == 0 {
			rate = DefaultSpikeRate
		}
		return spike{rate: rate}, nil
	case Bursty:
		scale := 1.0
		if rate != 0 {
			scale = rate / burstMeanRate
		}
		return &bursty{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), scale: scale}, nil
	case Stress:
		return unpaced{}, nil
	}
	return nil, fmt.Errorf("unknown profile %q", p)
}

type unpaced struct{}

func (unpaced) At(int64) time.Duration { return 0 }
func (unpaced) Unpaced() bool          { return true }

type steady struct{ rate float64 }

func (s steady) At(n int64) time.Duration { return seconds(float64(n) / s.rate) }
func (steady) Unpaced() bool              { return false }

// spike: each cycle of SpikeCycle holds rate*(cycle-length) records at the
// base rate plus rate*SpikeFactor*length records in the spike.
type spike struct{ rate float64 }

func (s spike) Unpaced() bool { return false }

func (s spike) At(n int64) time.Duration {
	before := s.rate * SpikeStart.Seconds()                // records before the spike
	during := s.rate * SpikeFactor * SpikeLength.Seconds() // records in the spike
	after := s.rate * (SpikeCycle - SpikeStart - SpikeLength).Seconds()
	perCycle := before + during + after
	cycle := math.Floor(float64(n) / perCycle)
	m := float64(n) - cycle*perCycle
	t := cycle * SpikeCycle.Seconds()
	switch {
	case m < before:
		t += m / s.rate
	case m < before+during:
		t += SpikeStart.Seconds() + (m-before)/(s.rate*SpikeFactor)
	default:
		t += (SpikeStart + SpikeLength).Seconds() + (m-before-during)/s.rate
	}
	return seconds(t)
}

// bursty draws bursts lazily; first[i] is the index of burst i's first
// record and start[i] its start time. Safe for concurrent use.
type bursty struct {
	mu    sync.Mutex
	rng   *rand.Rand
	scale float64
	first []int64
	start []time.Duration
	next  int64         // first record of the burst after the last drawn
	at    time.Duration // start of the burst after the last drawn
}

func (b *bursty) Unpaced() bool { return false }

func (b *bursty) At(n int64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.next <= n {
		size := int64(math.Round(float64(BurstMin+b.rng.IntN(BurstMax-BurstMin+1)) * b.scale))
		if size < 1 {
			size = 1
		}
		b.first = append(b.first, b.next)
		b.start = append(b.start, b.at)
		b.next += size
		b.at += BurstGapMin + time.Duration(b.rng.Int64N(int64(BurstGapMax-BurstGapMin)+1))
	}
	// The last burst whose first record is <= n.
	i := sort.Search(len(b.first), func(i int) bool { return b.first[i] > n }) - 1
	return b.start[i]
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
