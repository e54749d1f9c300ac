package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; 100 on every Linux
// this runs on (sysconf needs cgo to ask).
const clockTicks = 100

// cpuWatch names a server process whose CPU time (with all its descendants, so an embedded
// Postgres counts towards the Stowage that started it) is reported per operation. Throughput
// ratios on a shared machine hide where the time goes; CPU per operation does not.
type cpuWatch struct {
	name string
	pid  int
}

// treeCPU sums the CPU time of pid and its descendants: each live one's utime+stime, and
// the cutime+cstime of each live one, which hold the time of its children that exited and
// were waited for. Without the latter a descendant that exited between two samples (a
// Postgres autovacuum worker, a pooled connection's backend closed when idle) took its
// time with it, and a run's CPU came out too low, even below zero.
func treeCPU(root int) time.Duration {
	parent := map[int]int{}
	ticks := map[int]int64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: fields start after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		for _, v := range f[11:15] { // utime stime cutime cstime
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks[pid] += n
		}
	}
	var sum int64
	for pid, t := range ticks {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				sum += t
				break
			}
		}
	}
	return time.Duration(sum) * time.Second / clockTicks
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cpuSample []time.Duration

func sampleCPU(ws []cpuWatch) cpuSample {
	s := cpuSample{selfCPU()}
	for _, w := range ws {
		s = append(s, treeCPU(w.pid))
	}
	return s
}

// cpuPerOp is the CPU the bench client itself and each watched process spent per
// operation between two samples, in milliseconds.
func cpuPerOp(a, b cpuSample, ops int) []float64 {
	if ops == 0 || len(a) == 0 {
		return nil
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = float64(b[i]-a[i]) / float64(ops) / 1e6
	}
	return out
}

func formatCPU(ws []cpuWatch, ms []float64) string {
	out := []string{fmt.Sprintf("client=%.2fms", ms[0])}
	for i, w := range ws {
		out = append(out, fmt.Sprintf("%s=%.2fms", w.name, ms[i+1]))
	}
	return "cpu/op " + strings.Join(out, " ")
}

func parseCPUWatch(v string) (cpuWatch, error) {
	name, p, ok := strings.Cut(v, "=")
	pid, err := strconv.Atoi(p)
	if !ok || err != nil || pid <= 1 {
		return cpuWatch{}, fmt.Errorf("-cpu %q: want name=pid", v)
	}
	return cpuWatch{name, pid}, nil
}

// machineTicks reads the machine's CPU time from /proc/stat's first line: all of it, and
// the part the hypervisor gave to other guests ("steal"). A round with much steal measured
// a slower machine than its neighbours did; its ratios say little.
func machineTicks() (total, steal int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal; guest time is in user
			total += n
		}
		if i == 7 {
			steal = n
		}
	}
	return total, steal
}

// stealShare is the share of the machine's CPU time stolen between two machineTicks.
func stealShare(total0, steal0, total1, steal1 int64) float64 {
	if total1 <= total0 {
		return 0
	}
	return float64(steal1-steal0) / float64(total1-total0)
}
