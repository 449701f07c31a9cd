package main

import (
	"io"
	"log/slog"
)

// newLogger is the server's logger: ZOMBI_LOG's level, ZOMBI_LOG_FORMAT's
// format (json: one object per line, for log collectors).
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
