package httpapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// TestTailStalledReaderEnds: a client that keeps its connection open but
// stops reading does not hold the tail forever: once the server's writes
// have waited streamWriteTimeout, the stream ends and the connection
// closes (before, the handler and its watchers waited on the full TCP
// window for as long as the client liked, and Shutdown with them).
func TestTailStalledReaderEnds(t *testing.T) {
	defer func(d time.Duration) { streamWriteTimeout = d }(streamWriteTimeout)
	streamWriteTimeout = 300 * time.Millisecond
	e := newEnv(t, Config{})
	// Unvalidated: the validating wrapper of newEnv cannot set deadlines.
	srv := httptest.NewServer(New(e.log, e.stats, Config{}, discardLogger()))
	t.Cleanup(srv.Close)
	if _, err := e.log.CreateTopic("stall", 1, nil); err != nil {
		t.Fatal(err)
	}
	// A small receive buffer, so that the server's writes soon block.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /tables/stall/tail HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(conn, 4096)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for the stream to open: %v", err)
		}
		if strings.HasPrefix(line, ": tail of") {
			break
		}
	}
	// 24 MiB of records (under MaxTailRate), far more than the socket
	// buffers hold; the client reads none of it for a while.
	value := []byte(strings.Repeat("x", 64<<10))
	for range 48 {
		b := batch.NewBuilder()
		for i := range 8 {
			b.Add(int64(i), nil, value, nil)
		}
		if res := e.log.Append(context.Background(), []plog.AppendRequest{{Topic: "stall", Batch: append([]byte(nil), b.Bytes()...)}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	time.Sleep(time.Second + 3*streamWriteTimeout)
	// The stream must have ended: what the buffers held, then the end of
	// the connection (EOF or a reset), well before the read deadline.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the stream still runs after the client stalled (%d bytes read after the stall): a stalled reader holds the tail", n)
	}
	t.Logf("stream ended after %d more bytes: %v", n, err)
}
