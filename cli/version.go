package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Build stamps, set by the Makefile with -ldflags "-X ...=..."; a plain go
// build falls back to what the Go toolchain recorded (module version, VCS
// revision and time).
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// BuildInfo is what zombi version reports.
type BuildInfo struct {
	Version   string `json:"version" yaml:"version"`
	Commit    string `json:"commit" yaml:"commit"`
	Date      string `json:"date" yaml:"date"`
	GoVersion string `json:"go_version" yaml:"go_version"`
}

// Build returns the stamped build information, completed from the binary's
// embedded build info where the Makefile did not stamp it.
func Build() BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return buildFrom(Version, Commit, Date, bi)
}

// buildFrom fills what the ldflags left empty from the toolchain's record
// of a plain go build: the module version (unless "(devel)"), vcs.revision
// (with "-dirty" when vcs.modified), vcs.time. A build without VCS stamping
// (-buildvcs=false, or a git worktree) has none of them: "unknown".
func buildFrom(version, commit, date string, bi *debug.BuildInfo) BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
		stampedCommit := b.Commit != ""
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && !stampedCommit:
				b.Commit = s.Value + b.Commit // after -dirty when that came first
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && !stampedCommit:
				b.Commit += "-dirty"
			}
		}
	}
	for _, f := range []*string{&b.Version, &b.Commit, &b.Date} {
		if *f == "" {
			*f = "unknown"
		}
	}
	if b.Version == "unknown" {
		b.Version = "dev"
	}
	return b
}

// String is the one line of zombi --version.
func (b BuildInfo) String() string {
	return fmt.Sprintf("zombi %s (commit %s, built %s, %s)", b.Version, b.Commit, b.Date, b.GoVersion)
}

func versionCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			b := Build()
			if o.output == "text" {
				_, err := fmt.Fprintln(o.stdout, b)
				return err
			}
			return o.print(table{values: b})
		},
	}
}

// healthCommand: exit status 0 only when GET /health answers 200 healthy
// (a Docker HEALTHCHECK or a script's probe).
func healthCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check a running Zombi's health (exit status 0 only when healthy)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			status, reason, err := o.health(cmd.Context())
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			if status != "healthy" {
				return fmt.Errorf("unhealthy: %s", reason)
			}
			fmt.Fprintln(o.stdout, "healthy")
			return nil
		},
	}
}

func (o *options) health(ctx context.Context) (status, reason string, err error) {
	hc, err := o.httpClient()
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(o.api, "/")+"/health", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(data, &body); err != nil || body.Status == "" {
		return "", "", fmt.Errorf("%s from %s: not a health answer", resp.Status, o.api)
	}
	if resp.StatusCode != http.StatusOK && body.Reason == "" {
		body.Reason = resp.Status
	}
	return body.Status, body.Reason, nil
}
