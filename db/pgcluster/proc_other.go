//go:build !linux

package pgcluster

import "syscall"

// sysProcAttr runs a server program as cred (nil: as ourselves) in its own process group.
// Outside Linux there is no parent-death signal: callers must Stop the cluster.
func sysProcAttr(cred *syscall.Credential, _ bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
