package promcheck

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// input is what deploy's test writes to $PROMCHECK_INPUT.
type input struct {
	Load  string  `json:"load"`  // promqltest's load command with the scraped series
	At    float64 `json:"at"`    // evaluation time, seconds after the first sample
	Rules string  `json:"rules"` // a Prometheus rules file to parse
	Exprs []struct {
		Where     string `json:"where"`
		Expr      string `json:"expr"`
		NonEmpty  bool   `json:"non_empty"`   // the query must return at least one sample
		NotAllNaN bool   `json:"not_all_nan"` // ... and not only NaN
	} `json:"exprs"`
}

func TestQueries(t *testing.T) {
	path := os.Getenv("PROMCHECK_INPUT")
	if path == "" {
		t.Skip("PROMCHECK_INPUT not set: run by deploy's TestDashboardQueriesEvaluate")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}

	if in.Rules != "" {
		_, errs := rulefmt.ParseFile(in.Rules, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		for _, err := range errs {
			t.Errorf("rules %s: %v", in.Rules, err)
		}
	}

	storage := promqltest.LoadedStorage(t, in.Load)
	t.Cleanup(func() { _ = storage.Close() })
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	at := time.Unix(0, 0).Add(time.Duration(in.At * float64(time.Second)))
	ctx := context.Background()
	for _, e := range in.Exprs {
		q, err := engine.NewInstantQuery(ctx, storage, nil, e.Expr, at)
		if err != nil {
			t.Errorf("%s: %v\n  %s", e.Where, err, e.Expr)
			continue
		}
		res := q.Exec(ctx)
		q.Close()
		if res.Err != nil {
			t.Errorf("%s: %v\n  %s", e.Where, res.Err, e.Expr)
			continue
		}
		var values []float64
		switch v := res.Value.(type) {
		case promql.Vector:
			for _, s := range v {
				values = append(values, s.F)
			}
		case promql.Scalar:
			values = append(values, v.V)
		default:
			t.Errorf("%s: a %s, want an instant vector or a scalar\n  %s", e.Where, res.Value.Type(), e.Expr)
			continue
		}
		if e.NonEmpty && len(values) == 0 {
			t.Errorf("%s: no samples from the scraped series\n  %s", e.Where, e.Expr)
			continue
		}
		if e.NotAllNaN && len(values) > 0 {
			nan := true
			for _, f := range values {
				nan = nan && math.IsNaN(f)
			}
			if nan {
				t.Errorf("%s: only NaN from the scraped series\n  %s", e.Where, e.Expr)
			}
		}
		t.Logf("%s: %d samples %v", e.Where, len(values), values)
	}
}
