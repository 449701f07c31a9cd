package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// newTCPServer serves the API on a real listener (the 413 fix is about
// what happens on the connection).
func newTCPServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	e := newEnv(t, cfg)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	return srv
}

// rawRequest writes a whole request (headers and body at once, without
// Expect: 100-continue, as Python's urllib and requests do) and reads the
// response. The body is written from another goroutine, as a client that
// sends everything before it reads.
func rawRequest(t *testing.T, addr, head string, body []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(append([]byte(head), body...))
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v (write: %v)", err, <-wrote)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the server reset the connection while the body was sent: %v", err)
	}
	return resp, b
}

func bigEvent(n int) []byte {
	return []byte(`{"payload":"` + strings.Repeat("x", n) + `"}`)
}

func check413(t *testing.T, resp *http.Response, b []byte, limit int) {
	t.Helper()
	var m map[string]string
	if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(b, &m) != nil ||
		m["error"] != fmt.Sprintf("request body larger than %d bytes", limit) {
		t.Fatalf("want the 413 JSON, got %d %q", resp.StatusCode, b)
	}
}

// A body over the limit sent whole, without Expect: 100-continue, gets the
// 413 JSON, not a connection reset: with a Content-Length (refused before
// reading) and chunked (refused while reading).
func TestTooLargeWithoutExpectContinue(t *testing.T) {
	const limit = 64 << 10
	srv := newTCPServer(t, Config{MaxRequestBytes: limit})
	addr := srv.Listener.Addr().String()
	for _, size := range []int{limit + 1, 1 << 20, 8 << 20} {
		body := bigEvent(size)
		for i := range 3 {
			head := fmt.Sprintf("POST /tables/big HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
			resp, b := rawRequest(t, addr, head, body)
			check413(t, resp, b, limit)
			if i == 0 && size == 8<<20 {
				t.Logf("%d bytes: %s", len(body), resp.Header.Get("Connection"))
			}
		}
		var chunked bytes.Buffer
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			fmt.Fprintf(&chunked, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		chunked.WriteString("0\r\n\r\n")
		head := fmt.Sprintf("POST /tables/big/bulk HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", addr)
		resp, b := rawRequest(t, addr, head, chunked.Bytes())
		check413(t, resp, b, limit)
	}
	// The connection of a drained request stays usable; the server too.
	resp, err := http.Post(srv.URL+"/tables/big", "application/json", strings.NewReader(`{"payload":"ok"}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("after: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	srv.CloseClientConnections()
}

// Python's urllib (the client the issue names), when python3 is here.
func TestTooLargePythonUrllib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	const limit = 64 << 10
	srv := newTCPServer(t, Config{MaxRequestBytes: limit})
	script := `
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1] + "/tables/big", data=b'{"payload":"' + b"x" * (4 << 20) + b'"}',
                             headers={"Content-Type": "application/json"}, method="POST")
try:
    urllib.request.urlopen(req, timeout=20)
    print("no error")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
`
	for range 3 {
		out, err := exec.Command(py, "-c", script, srv.URL).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != fmt.Sprintf(`413 {"error":"request body larger than %d bytes"}`, limit) {
			t.Fatalf("urllib: %v: %s", err, out)
		}
	}
	srv.CloseClientConnections()
}
