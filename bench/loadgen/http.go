package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	gproto "google.golang.org/protobuf/proto"

	zproto "github.com/zombi-dev/zombi/proto"
)

// HTTPConfig is a REST API target: POST /tables/{t} (one event per request)
// or POST /tables/{t}/bulk (Batch events per request).
type HTTPConfig struct {
	URL         string // base URL, e.g. http://127.0.0.1:8080
	Table       string
	Bulk        bool
	Protobuf    bool // single events as application/x-protobuf (proto/event.proto)
	PayloadSize int
	Conns       int // idle connections kept per host (the concurrency)
	Timeout     time.Duration
}

type httpTarget struct {
	cfg    HTTPConfig
	client *http.Client
	path   string
}

// NewHTTP returns a REST API target.
func NewHTTP(cfg HTTPConfig) (Target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: want http://host:port", cfg.URL)
	}
	if cfg.Table == "" {
		return nil, fmt.Errorf("no table")
	}
	if cfg.Bulk && cfg.Protobuf {
		return nil, fmt.Errorf("bulk writes are JSON only")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        cfg.Conns + 8,
		MaxIdleConnsPerHost: cfg.Conns + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	path := strings.TrimRight(cfg.URL, "/") + "/tables/" + url.PathEscape(cfg.Table)
	if cfg.Bulk {
		path += "/bulk"
	}
	return &httpTarget{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}, path: path}, nil
}

func (t *httpTarget) Name() string { return t.path }

func (t *httpTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

// Payload returns size bytes of printable ASCII, different for each seed,
// so that a JSON string needs no escaping and compression has some work.
func Payload(size int, seed int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, size)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return b
}

// jsonEvent is the REST API's JSON event.
type jsonEvent struct {
	Payload string `json:"payload"`
}

func (t *httpTarget) Worker(_ context.Context, i int) (Op, error) {
	payload := Payload(t.cfg.PayloadSize, i)
	ctype := "application/json"
	var single []byte
	var err error
	switch {
	case t.cfg.Protobuf:
		ctype = "application/x-protobuf"
		single, err = gproto.Marshal(&zproto.Event{Payload: payload})
	default:
		single, err = json.Marshal(jsonEvent{Payload: string(payload)})
	}
	if err != nil {
		return nil, err
	}
	var pool [][]byte // distinct bulk records
	if t.cfg.Bulk {
		for _, p := range payloadPool(t.cfg.PayloadSize, i) {
			b, err := json.Marshal(jsonEvent{Payload: string(p)})
			if err != nil {
				return nil, err
			}
			pool = append(pool, b)
		}
	}
	bulkBodies := map[int][]byte{}
	bulkBody := func(n int) []byte {
		if b, ok := bulkBodies[n]; ok {
			return b
		}
		var buf bytes.Buffer
		buf.WriteString(`{"records":[`)
		for j := range n {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(pool[j%len(pool)])
		}
		buf.WriteString(`]}`)
		bulkBodies[n] = buf.Bytes()
		return buf.Bytes()
	}
	return func(ctx context.Context, n int) (int, int64, error) {
		body := single
		if t.cfg.Bulk {
			body = bulkBody(n)
		} else {
			n = 1
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.path, bytes.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := t.client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return n, int64(n * len(payload)), nil
	}, nil
}
