package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clearStalePID deals with the postmaster.pid a crashed run leaves behind. postgres
// itself ignores a file whose process is gone, but refuses to start when the PID was
// reused by an unrelated process (common in containers, where PIDs are small and
// restart from 1). We hold the folder lock, so a live postgres serving this data folder
// belongs to a dead owner: shut it down. Anything else makes the file stale: remove it.
func (c *Cluster) clearStalePID(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && c.isOurPostmaster(pid) {
		c.logf("pgcluster: shutting down orphaned postgres (pid %d) on %s", pid, c.dataDir)
		if err := stopOrphan(ctx, pid); err != nil {
			return err
		}
		return nil // a clean shutdown removes the file itself
	}
	c.logf("pgcluster: removing stale %s", pidFile)
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove stale pid file: %w", err)
	}
	return nil
}

// isOurPostmaster reports whether pid is a postgres process serving our data folder.
func (c *Cluster) isOurPostmaster(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	if len(args) == 0 || filepath.Base(string(args[0])) != "postgres" {
		return false
	}
	for i, a := range args {
		if string(a) == "-D" && i+1 < len(args) && string(args[i+1]) == c.dataDir {
			return true
		}
	}
	return false
}

// stopOrphan sends SIGINT (fast shutdown) and waits until pid is gone.
func stopOrphan(ctx context.Context, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		return nil // already gone
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: orphaned postgres (pid %d) did not stop: %w", pid, ctx.Err())
		case <-tick.C:
		}
	}
}
