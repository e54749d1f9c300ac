package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestMachineTicks: /proc/stat's totals grow and steal is a share of them.
func TestMachineTicks(t *testing.T) {
	total0, steal0 := machineTicks()
	x := 0
	for i := range 50_000_000 { // spend some CPU, so that the machine's total moves
		x ^= i
	}
	total1, steal1 := machineTicks()
	if total0 <= 0 || total1 < total0 || steal0 < 0 || steal1 < steal0 || steal1 > total1 {
		t.Fatalf("total %d -> %d, steal %d -> %d (%d)", total0, total1, steal0, steal1, x)
	}
	if s := stealShare(total0, steal0, total1, steal1); s < 0 || s > 1 {
		t.Fatalf("steal share %v", s)
	}
	if s := stealShare(100, 10, 200, 60); s != 0.5 {
		t.Fatalf("stealShare = %v, want 0.5", s)
	}
	if s := stealShare(100, 10, 100, 10); s != 0 {
		t.Fatalf("no time passed: %v", s)
	}
}

// TestTreeCPUKeepsExitedChildren: the CPU of a child that exited and was waited for stays
// in its parent's tree.
func TestTreeCPUKeepsExitedChildren(t *testing.T) {
	before := treeCPU(os.Getpid())
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil { // Run waits: the child's time goes to our cutime
		t.Fatal(err)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if after := treeCPU(os.Getpid()); after-before < child-20*time.Millisecond {
		t.Fatalf("tree CPU grew by %v, the exited child used %v", after-before, child)
	}
}

// TestOnlyQuiet keeps the entries of quiet rounds, in order.
func TestOnlyQuiet(t *testing.T) {
	got := onlyQuiet([]float64{1, 2, 3, 4}, []bool{true, false, false, true})
	if len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("%v", got)
	}
	if got := onlyQuiet([]float64{1}, []bool{false}); got != nil {
		t.Fatalf("%v", got)
	}
}
