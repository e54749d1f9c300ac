package events_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
)

// clockTick is Linux's USER_HZ, the unit of /proc/*/stat CPU times.
const clockTick = 10 * time.Millisecond

// cpuMeter measures CPU time spent by this process (writers, dispatcher, receiver) and by
// the Postgres cluster (the postmaster, its live backends and those it has reaped), so a
// benchmark can report CPU per operation beside wall time on a machine others load.
type cpuMeter struct {
	postmaster int
	db         *db.DB
}

func newCPUMeter(b *testing.B, d *db.DB) *cpuMeter {
	b.Helper()
	var pid int
	if err := d.Pool().QueryRow(context.Background(), `select pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	f, err := procStat(pid)
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	ppid, _ := strconv.Atoi(f[1])
	return &cpuMeter{postmaster: ppid, db: d}
}

// procStat returns the fields of /proc/pid/stat after the command name: f[0] is the state,
// f[1] the parent's pid, f[11..14] utime, stime, cutime, cstime.
func procStat(pid int) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	s := string(raw)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:]), nil
}

func ticks(f []string, fields ...int) time.Duration {
	var n int64
	for _, i := range fields {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		n += v
	}
	return time.Duration(n) * clockTick
}

// sample returns the CPU used so far by this process and by Postgres.
func (m *cpuMeter) sample() (self, pg time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if f, err := procStat(m.postmaster); err == nil {
		pg += ticks(f, 11, 12, 13, 14)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := procStat(pid); err == nil && f[1] == strconv.Itoa(m.postmaster) {
			pg += ticks(f, 11, 12)
		}
	}
	return self, pg
}

// transactions returns the transactions the benchmark's database has ended so far. A busy
// backend reports its counts at most once a second and an idle one only after about ten:
// the pool's connections are closed first (a backend reports as it exits), so that every
// transaction ended so far is counted.
func (m *cpuMeter) transactions() int64 {
	m.db.Pool().Reset()
	time.Sleep(300 * time.Millisecond) // the closed backends exit
	var n int64
	_ = m.db.Pool().QueryRow(context.Background(), `select xact_commit + xact_rollback from pg_stat_database
		where datname = current_database()`).Scan(&n)
	return n
}

// report adds cpu-ms/op (this process) and pg-cpu-ms/op (Postgres) since start.
func (m *cpuMeter) report(b *testing.B, self0, pg0 time.Duration) {
	self, pg := m.sample()
	n := float64(b.N)
	b.ReportMetric(float64(self-self0)/float64(time.Millisecond)/n, "cpu-ms/op")
	b.ReportMetric(float64(pg-pg0)/float64(time.Millisecond)/n, "pg-cpu-ms/op")
}
