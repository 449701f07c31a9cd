package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

func readCells(files []string) ([]cell, error) {
	var cells []cell
	for _, name := range files {
		f, err := os.Open(name)
		if os.IsNotExist(err) {
			continue // a subset run wrote no warm-up file, say
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var c cell
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if c.Kind == "" {
				c.Kind = kindProduce // files written before kinds
			}
			cells = append(cells, c)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return cells, nil
}

func formatInt(n int64) string { return loadgen.FormatCount(float64(n)) }

func formatBytes(b float64) string {
	switch {
	case b >= 10e9:
		return fmt.Sprintf("%.1f GB", b/1e9)
	case b >= 10e6:
		return fmt.Sprintf("%.0f MB", b/1e6)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.0f kB", b/1e3)
	}
	return fmt.Sprintf("%.0f B", b)
}

func ratio(z, s float64) string {
	if z <= 0 || s <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", z/s)
}

// labelsOf lists the labels of the cells that pass keep, in order of first
// appearance, and the Zombi ones among them, sorted.
func labelsOf(cells []cell, keep func(cell) bool) (labels, zombis []string) {
	seen := map[string]bool{}
	for _, c := range cells {
		if keep(c) && !seen[c.Label] {
			seen[c.Label] = true
			labels = append(labels, c.Label)
			if strings.HasPrefix(c.Label, "zombi") {
				zombis = append(zombis, c.Label)
			}
		}
	}
	sort.Strings(zombis)
	return labels, zombis
}

// tableCmd prints three tables: the workloads (each system's figures and
// Zombi's ratio to each), the servers (start-up, memory, disk) and Kafka's
// perf tools.
func tableCmd(files []string) error {
	cells, err := readCells(files)
	if err != nil {
		return err
	}
	workloadTable(cells)
	serverTable(cells)
	perfTable(cells)
	return nil
}

// workloadTable: records/s, latencies, server CPU per record; the ratio
// columns are Zombi's records/s ÷ the row's (for e2e: the row's p50 ÷
// Zombi's p50), so above 1 Zombi is ahead.
func workloadTable(cells []cell) {
	isWorkload := func(c cell) bool { return c.Kind == kindProduce || c.Kind == kindConsume || c.Kind == kindE2E }
	labels, zombis := labelsOf(cells, isWorkload)
	if len(labels) == 0 {
		return
	}
	byKey := map[string]cell{}
	for _, c := range cells {
		if isWorkload(c) {
			byKey[c.Workload+"|"+c.Label] = c
		}
	}
	header := "| workload | system | records/s | MB/s | p50 | p99 | p99.9 | server CPU/record | errors |"
	sep := "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for _, z := range zombis {
		header += " " + z + " ÷ system |"
		sep += "---:|"
	}
	fmt.Println(header)
	fmt.Println(sep)
	for _, w := range workloads {
		for _, l := range labels {
			c, ok := byKey[w.Name+"|"+l]
			if !ok {
				continue
			}
			r := c.Result
			line := fmt.Sprintf("| %s | %s | %s | %.2f | %s | %s | %s | %s | %d |", w.Name, l, loadgen.FormatCount(r.RecordsPerSec), r.MBPerSec,
				loadgen.FormatMicros(r.Latency.P50US), loadgen.FormatMicros(r.Latency.P99US), loadgen.FormatMicros(r.Latency.P999US),
				formatCPU(c.CPUPerRecordUS), r.Errors)
			for _, z := range zombis {
				zc, ok := byKey[w.Name+"|"+z]
				switch {
				case !ok:
					line += " - |"
				case w.Kind == kindE2E:
					line += " " + ratio(float64(r.Latency.P50US), float64(zc.Result.Latency.P50US)) + " |"
				default:
					line += " " + ratio(zc.Result.RecordsPerSec, r.RecordsPerSec) + " |"
				}
			}
			fmt.Println(line)
		}
	}
	fmt.Println()
}

// serverTable: start-up time, memory at the end of the workloads, disk
// space per record written; the ratio is the server's figure ÷ Zombi's
// (above 1 Zombi takes less).
func serverTable(cells []cell) {
	var servers []string
	st := map[string]*serverStats{}
	for _, c := range cells {
		if c.Kind != kindServer || c.Stats == nil {
			continue
		}
		s, ok := st[c.Server]
		if !ok {
			s = &serverStats{}
			st[c.Server] = s
			servers = append(servers, c.Server)
		}
		if c.Stats.StartupMS > 0 {
			s.StartupMS = c.Stats.StartupMS
		}
		if c.Stats.StoppedDiskBytes > 0 {
			s.StoppedDiskBytes, s.StoppedWrittenBytes = c.Stats.StoppedDiskBytes, c.Stats.StoppedWrittenBytes
		}
		if c.Stats.RSSKB > 0 {
			s.RSSKB, s.HWMKB, s.DiskBytes, s.Written, s.WrittenBytes = c.Stats.RSSKB, c.Stats.HWMKB, c.Stats.DiskBytes, c.Stats.Written, c.Stats.WrittenBytes
		}
	}
	if len(servers) == 0 {
		return
	}
	z := st["zombi"]
	perRecord := func(s *serverStats) float64 {
		if s == nil || s.Written == 0 {
			return 0
		}
		return float64(s.DiskBytes) / float64(s.Written)
	}
	amp := func(s *serverStats) float64 {
		if s == nil || s.WrittenBytes == 0 {
			return 0
		}
		return float64(s.DiskBytes) / float64(s.WrittenBytes)
	}
	stopped := func(s *serverStats) float64 {
		if s == nil || s.StoppedWrittenBytes == 0 {
			return 0
		}
		return float64(s.StoppedDiskBytes) / float64(s.StoppedWrittenBytes)
	}
	fmt.Println("| server | start-up | VmRSS | VmHWM | data directory | records written | payload written | bytes/record | disk ÷ payload | stopped: disk ÷ payload | ÷ zombi: start-up | VmHWM | disk ÷ payload | stopped |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, name := range servers {
		s := st[name]
		f2 := func(v float64) string {
			if v <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", v)
		}
		line := fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", name, fmtMS(s.StartupMS), formatBytes(float64(s.RSSKB)*1024),
			formatBytes(float64(s.HWMKB)*1024), formatBytes(float64(s.DiskBytes)), formatInt(s.Written), formatBytes(float64(s.WrittenBytes)),
			fmtPerRecord(perRecord(s)), f2(amp(s)), f2(stopped(s)))
		if z == nil {
			line += " - | - | - | - |"
		} else {
			line += fmt.Sprintf(" %s | %s | %s | %s |", ratio(s.StartupMS, z.StartupMS), ratio(float64(s.HWMKB), float64(z.HWMKB)),
				ratio(amp(s), amp(z)), ratio(stopped(s), stopped(z)))
		}
		fmt.Println(line)
	}
	fmt.Println()
}

func fmtMS(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func fmtPerRecord(b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f B", b)
}

// perfTable: Kafka's own perf tools against each Kafka-protocol server;
// the ratio is Zombi's records/s ÷ the row's.
func perfTable(cells []cell) {
	var names []string
	seen := map[string]bool{}
	byKey := map[string]cell{}
	for _, c := range cells {
		if c.Kind != kindPerf {
			continue
		}
		if !seen[c.Workload] {
			seen[c.Workload] = true
			names = append(names, c.Workload)
		}
		byKey[c.Workload+"|"+c.Label] = c
	}
	if len(names) == 0 {
		return
	}
	labels, _ := labelsOf(cells, func(c cell) bool { return c.Kind == kindPerf })
	fmt.Println("| perf tool run | server | records | records/s | MB/s | avg | p50 | p99 | p99.9 | server CPU/record | zombi ÷ server |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range names {
		for _, l := range labels {
			c, ok := byKey[n+"|"+l]
			if !ok {
				continue
			}
			r := c.Result
			lat := func(us int64) string {
				if strings.Contains(c.Result.Mode, "consumer") {
					return "-"
				}
				return fmt.Sprintf("%g ms", float64(us)/1000)
			}
			avg := "-"
			if c.Perf != nil && !strings.Contains(r.Mode, "consumer") {
				avg = fmt.Sprintf("%.2f ms", c.Perf.AvgMS)
			}
			zr := "-"
			if zc, ok := byKey[n+"|zombi"]; ok {
				zr = ratio(zc.Result.RecordsPerSec, r.RecordsPerSec)
			}
			rate := loadgen.FormatCount(r.RecordsPerSec)
			if c.Perf != nil && c.Perf.FetchRecPerS > 0 {
				rate += fmt.Sprintf(" (fetching: %s)", loadgen.FormatCount(c.Perf.FetchRecPerS))
			}
			fmt.Printf("| %s | %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s |\n", n, l, formatInt(r.Records),
				rate, r.MBPerSec, avg, lat(r.Latency.P50US), lat(r.Latency.P99US), lat(r.Latency.P999US),
				formatCPU(c.CPUPerRecordUS), zr)
		}
	}
	fmt.Println()
}
