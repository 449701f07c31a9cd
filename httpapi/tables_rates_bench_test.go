package httpapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/history"
)

// BenchmarkTablesWithRates: GET /tables with and without with=rates over
// 10,000 topics, with rates from a sampler that has seen them all; "prefix"
// lists 100 of them (a page, until GET /tables pages), "all" every one.
func BenchmarkTablesWithRates(b *testing.B) {
	e := newEnv(b, Config{})
	for i := range 10_000 {
		if _, err := e.log.CreateTopic(fmt.Sprintf("t-%04d", i), 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	smp := history.New(history.Config{Traffic: e.log, Interval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); smp.Run(ctx) }()
	for len(smp.Samples(0)) < history.SlowEvery {
		time.Sleep(5 * time.Millisecond)
	}
	// Stopped: its rates stay, and it does not compete for the CPU.
	cancel()
	<-done
	h := New(e.log, e.stats, Config{History: smp}, discardLogger())
	for _, bc := range []struct{ name, query string }{
		{"prefix-100", "?prefix=t-00"},
		{"prefix-100-rates", "?prefix=t-00&with=rates"},
		{"all-10000", ""},
		{"all-10000-rates", "?with=rates"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/tables"+bc.query, nil))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkAddRatesPage50 is with=rates' own cost on a page of 50 of
// 10,000 topics: what it adds to GET /tables whatever the listing costs.
func BenchmarkAddRatesPage50(b *testing.B) {
	e := newEnv(b, Config{})
	for i := range 10_000 {
		if _, err := e.log.CreateTopic(fmt.Sprintf("t-%04d", i), 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	smp := history.New(history.Config{Traffic: e.log, Interval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); smp.Run(ctx) }()
	for len(smp.Samples(0)) < history.SlowEvery {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	s := newServer(e.log, e.stats, Config{History: smp}, discardLogger(), false)
	page := make([]tableJSON, 50)
	for i := range page {
		page[i].Name = fmt.Sprintf("t-%04d", 5000+i)
	}
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("GET", "/tables?with=rates", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.addRates(c, page)
	}
	if len(page[49].Rates) != history.RatePoints {
		b.Fatalf("rates = %v", page[49].Rates)
	}
}
