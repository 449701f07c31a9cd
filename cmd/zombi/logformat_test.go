package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// ZOMBI_LOG_FORMAT=json: every line the server logs is one JSON object
// with time, level and msg.
func TestLogFormatJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	p := startZombi(t, t.TempDir(), "ZOMBI_LOG_FORMAT=json", "ZOMBI_LOG=info")
	resp, err := http.Post(p.HTTPBase+"/tables/logs", "application/json", strings.NewReader(`{"payload":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	out, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", line, err)
		}
		if m["time"] == nil || m["level"] == nil || m["msg"] == nil {
			t.Fatalf("JSON line without time, level, msg: %q", line)
		}
		msgs[m["msg"].(string)] = true
	}
	if !msgs["zombi listening"] || !msgs["shutting down"] {
		t.Fatalf("expected lines missing: %v\n%s", msgs, out)
	}
}
