package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/zombi-dev/zombi/internal/zombitest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// startZombi runs the real binary (both listeners on free ports) until the
// test ends.
func startZombi(t *testing.T, dataDir string, env ...string) *zombitest.Proc {
	t.Helper()
	return zombitest.StartT(t, dataDir, env...)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// writeUntilKilled runs writers that POST events to table (event gives each
// write's JSON body and payload), kills the process with SIGKILL after d,
// and returns every write that was acknowledged before.
func writeUntilKilled(t *testing.T, p *zombitest.Proc, writers int, d time.Duration, event func(w, i int) (body, payload string), table string) []ack {
	t.Helper()
	var mu sync.Mutex
	var acks []ack
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers}, Timeout: 5 * time.Second}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body, payload := event(w, i)
				a, ok := postJSON(client, p.HTTPBase, table, body, payload)
				if !ok {
					continue
				}
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(d)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	return acks
}

// postJSON posts one event; ok when it was acknowledged (202).
func postJSON(c *http.Client, base, table, body, payload string) (ack, bool) {
	resp, err := c.Post(base+"/tables/"+table, "application/json", strings.NewReader(body))
	if err != nil {
		return ack{}, false
	}
	defer resp.Body.Close()
	var r struct {
		Offset    int64 `json:"offset"`
		Partition int32 `json:"partition"`
	}
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&r) != nil {
		return ack{}, false
	}
	return ack{r.Partition, r.Offset, payload}, true
}

type ack struct {
	partition int32
	offset    int64
	payload   string
}

type record struct {
	Payload   string `json:"payload"`
	Offset    int64  `json:"offset"`
	Partition int32  `json:"partition"`
}

// readPartition reads a whole partition through the per-partition HTTP read.
func readPartition(t *testing.T, base, table string, part int32) []record {
	t.Helper()
	var out []record
	next := int64(0)
	for {
		resp, err := http.Get(fmt.Sprintf("%s/tables/%s?partition=%d&offset=%d&limit=5000", base, table, part, next))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Records    []record `json:"records"`
			NextOffset int64    `json:"next_offset"`
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("read %s/%d@%d: %d %s", table, part, next, resp.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		if len(body.Records) == 0 {
			return out
		}
		out = append(out, body.Records...)
		next = body.NextOffset
	}
}

// TestCrashKeepsAcknowledgedWrites is INV-6 (and INV-1, INV-2, INV-5) against
// the real binary: many clients write, the process is killed with SIGKILL in
// the middle, and after a restart on the same data directory every
// acknowledged offset holds its exact payload and no offset is reused.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	dir := t.TempDir()
	const parts = 4
	p := startZombi(t, dir, fmt.Sprintf("ZOMBI_DEFAULT_PARTITIONS=%d", parts))

	acks := writeUntilKilled(t, p, 32, 1500*time.Millisecond, func(w, i int) (string, string) {
		payload := fmt.Sprintf("writer-%d-event-%d", w, i)
		return fmt.Sprintf(`{"payload": %q, "key": "k%d"}`, payload, i%7), payload
	}, "crash")
	if len(acks) < 500 {
		t.Fatalf("only %d acknowledged writes before the kill; load too light to prove anything", len(acks))
	}

	p2 := startZombi(t, dir)
	stored := map[[2]int64]string{}
	var hwm [parts]int64
	for part := int32(0); part < parts; part++ {
		recs := readPartition(t, p2.HTTPBase, "crash", part)
		for i, r := range recs {
			if r.Offset != int64(i) || r.Partition != part {
				t.Fatalf("partition %d: record %d has offset %d partition %d (gap or misplaced)", part, i, r.Offset, r.Partition)
			}
			stored[[2]int64{int64(part), r.Offset}] = r.Payload
		}
		hwm[part] = int64(len(recs))
	}
	for _, a := range acks {
		got, ok := stored[[2]int64{int64(a.partition), a.offset}]
		if !ok {
			t.Fatalf("acknowledged %d/%d (%s) lost", a.partition, a.offset, a.payload)
		}
		if got != a.payload {
			t.Fatalf("acknowledged %d/%d: stored %q, acknowledged %q", a.partition, a.offset, got, a.payload)
		}
	}
	// New writes continue after the recovered end: no offset reused.
	for part := int32(0); part < parts; part++ {
		body := fmt.Sprintf(`{"payload": "after", "partition": %d}`, part)
		resp, err := http.Post(p2.HTTPBase+"/tables/crash", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Offset int64 }
		_ = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if r.Offset != hwm[part] {
			t.Fatalf("partition %d: write after restart got offset %d, want %d", part, r.Offset, hwm[part])
		}
	}
	t.Logf("%d acknowledged writes before SIGKILL, all found after restart (%d stored)", len(acks), len(stored))
}

// TestGracefulShutdown: SIGTERM finishes in-flight work, closes RocksDB
// cleanly and exits 0; the data is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	dir := t.TempDir()
	p := startZombi(t, dir)
	for i := 0; i < 10; i++ {
		resp, err := http.Post(p.HTTPBase+"/tables/g", "application/json", bytes.NewBufferString(fmt.Sprintf(`{"payload":"e%d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Log())
	}
	p2 := startZombi(t, dir)
	if recs := readPartition(t, p2.HTTPBase, "g", 0); len(recs) != 10 || recs[9].Payload != "e9" {
		t.Fatalf("after restart: %+v", recs)
	}
}

// TestBadConfigStopsStartup: one clear line naming the variable, exit 2.
func TestBadConfigStopsStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ZOMBI_PORT=eighty")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v", err)
	}
	if lines := bytes.Count(bytes.TrimSpace(out), []byte("\n")); lines != 0 || !bytes.Contains(out, []byte("ZOMBI_PORT")) {
		t.Fatalf("output %q", out)
	}
}

// zombi --version, zombi version, zombi help and zombi help COMMAND exit 0
// and say what they should (issue 12 found --version and help exiting 2).
func TestVersionAndHelpExitZero(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--version"}, "zombi "},
		{[]string{"version"}, "zombi "},
		{[]string{"help"}, "Commands:"},
		{[]string{"help", "acl"}, "zombi acl"},
		{[]string{"help", "bench"}, "zombi bench"},
		{[]string{"--help"}, "ZOMBI_KAFKA_LISTENERS"},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("zombi %v: %v\n%s", tc.args, err, out)
		}
	}
}
