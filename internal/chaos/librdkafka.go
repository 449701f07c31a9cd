package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// LibrdkafkaConfig is the librdkafka producer's workload: py/produce.py run
// by a Python with confluent-kafka installed (internal/pyvenv with
// compat-tests/python/requirements.txt).
type LibrdkafkaConfig struct {
	Python string // the interpreter, e.g. pyvenv.Venv.Python()
	Seeds  []string
	Topic  string
	Name   string  // key prefix and Ack.Producer; "librdkafka" when empty
	Rate   float64 // records per second; 0: as fast as the queue allows
	Grace  time.Duration
	Config map[string]string // extra librdkafka settings (security.protocol, ...)
}

// librdkafkaLine is one line of py/produce.py's output.
type librdkafkaLine struct {
	Key         *string `json:"k"`
	Partition   int32   `json:"p"`
	Offset      int64   `json:"o"`
	Err         *string `json:"e"`
	Fatal       string  `json:"fatal"`
	Done        bool    `json:"done"`
	Undelivered int     `json:"undelivered"`
}

// Script is the path of py/produce.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "py", "produce.py")
}

// RunLibrdkafkaProducer runs one idempotent acks=all librdkafka producer
// until ctx is done, then lets it flush within cfg.Grace, recording every
// delivery report: an ack with its partition and offset, or a failure with
// its error. It returns an error when the script could not run, stopped on
// a fatal producer error, or ended without its final line.
func RunLibrdkafkaProducer(ctx context.Context, cfg LibrdkafkaConfig, l *Ledger) error {
	if err := checkTarget("librdkafka producer", cfg.Seeds, cfg.Topic); err != nil {
		return err
	}
	if cfg.Python == "" {
		return fmt.Errorf("%w: librdkafka producer: no Python interpreter", errConfig)
	}
	if cfg.Name == "" {
		cfg.Name = "librdkafka"
	}
	grace := cfg.Grace
	if grace <= 0 {
		grace = defaultGrace
	}
	if cfg.Config == nil {
		cfg.Config = map[string]string{} // "{}", not "null"
	}
	extra, err := json.Marshal(cfg.Config)
	if err != nil {
		return fmt.Errorf("chaos: librdkafka config: %w", err)
	}
	seeds := ""
	for i, s := range cfg.Seeds {
		if i > 0 {
			seeds += ","
		}
		seeds += s
	}
	cmd := exec.Command(cfg.Python, Script(), seeds, cfg.Topic, cfg.Name,
		strconv.FormatFloat(cfg.Rate, 'f', -1, 64), strconv.FormatFloat(grace.Seconds(), 'f', -1, 64), string(extra))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("chaos: librdkafka: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("chaos: librdkafka: %w", err)
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chaos: librdkafka: start %s: %w", cfg.Python, err)
	}
	// Closing stdin asks the script to stop and flush; past the grace period
	// (and a little for the interpreter to exit) it is killed.
	var (
		mu     sync.Mutex
		killed bool
		killer *time.Timer
	)
	stopWatch := context.AfterFunc(ctx, func() {
		stdin.Close()
		mu.Lock()
		defer mu.Unlock()
		killer = time.AfterFunc(grace+5*time.Second, func() {
			mu.Lock()
			killed = true
			mu.Unlock()
			_ = cmd.Process.Kill()
		})
	})
	defer stopWatch()

	var fatal string
	done := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ln librdkafkaLine
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			continue // not ours (a library printing to stdout): ignored
		}
		now := time.Now()
		switch {
		case ln.Fatal != "":
			fatal = ln.Fatal
		case ln.Done:
			done = true
			if ln.Undelivered > 0 {
				l.AddFailure(Failure{Partition: -1, Producer: cfg.Name, Err: fmt.Sprintf("%d records undelivered at the end of the grace period", ln.Undelivered), At: now})
			}
		case ln.Key == nil:
		case ln.Err != nil:
			l.AddFailure(Failure{Key: *ln.Key, Partition: -1, Producer: cfg.Name, Err: *ln.Err, At: now})
		default:
			l.AddAck(Ack{Key: *ln.Key, Partition: ln.Partition, Offset: ln.Offset, At: now, Producer: cfg.Name})
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	mu.Lock()
	wasKilled := killed
	if killer != nil {
		killer.Stop()
	}
	mu.Unlock()
	switch {
	case fatal != "":
		return fmt.Errorf("chaos: librdkafka: fatal producer error: %s", fatal)
	case wasKilled:
		return fmt.Errorf("chaos: librdkafka: killed, still running %s after it was asked to stop\n%s", grace+5*time.Second, stderr.String())
	case werr != nil:
		return fmt.Errorf("chaos: librdkafka: %w\n%s", werr, stderr.String())
	case !done:
		return errors.New("chaos: librdkafka: the script ended without its final line\n" + stderr.String())
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it: a script's stderr.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 8192 {
		b := t.buf.Bytes()[t.buf.Len()-4096:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
