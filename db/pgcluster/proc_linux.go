package pgcluster

import "syscall"

// sysProcAttr runs a server program as cred (nil: as ourselves) in its own process group,
// so a terminal's Ctrl-C reaches us and we shut the cluster down in order. Pdeathsig makes
// the kernel send postgres SIGINT (fast shutdown) if our process dies without calling
// Stop, so a crashed test binary or server does not leave an orphan cluster running.
// (Linux applies Pdeathsig after the credential switch, so it survives it.)
func sysProcAttr(cred *syscall.Credential, stopWithParent bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if stopWithParent {
		attr.Pdeathsig = syscall.SIGINT
	}
	return attr
}
