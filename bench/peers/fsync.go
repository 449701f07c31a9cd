package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// fsyncCmd measures the disk's fsync latency: 4 KiB appended and fsynced,
// 200 times, in a file under --dir (the directory the servers write to).
func fsyncCmd(args []string) error {
	fs := flag.NewFlagSet("fsync", flag.ExitOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the disk to measure")
	n := fs.Int("n", 200, "fsyncs")
	_ = fs.Parse(args)
	f, err := os.CreateTemp(*dir, "fsync-*")
	if err != nil {
		return err
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, *n)
	for range *n {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("fsync latency (4 KiB write + fsync, %d times, %s): mean %s  p50 %s  p99 %s  max %s  (about %.0f fsyncs/s from one writer)\n",
		*n, *dir, (sum / time.Duration(len(lat))).Round(time.Microsecond), q(0.5).Round(time.Microsecond),
		q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), float64(len(lat))/sum.Seconds())
	return nil
}
