package pgcluster

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the OS identity the server programs run as.
type account struct {
	cred *syscall.Credential // nil: the current user, no switch
	uid  int
	gid  int
}

// serverAccount picks who runs initdb and postgres. Both refuse to run as root, and CI
// and containers run as root, so root hands them to the "postgres" system user.
func serverAccount() (account, error) {
	if os.Geteuid() != 0 {
		return account{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return account{}, fmt.Errorf("pgcluster: running as root needs a \"postgres\" system user to run the server: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return account{}, fmt.Errorf("pgcluster: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return account{}, fmt.Errorf("pgcluster: postgres gid %q: %w", u.Gid, err)
	}
	return account{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: false},
		uid:  uid,
		gid:  gid,
	}, nil
}

// handOver makes dir usable by the server account: dir is chowned to it, and every
// ancestor gets o+x (traverse only, never read) when it lacks it, since t.TempDir and
// os.MkdirTemp create 0700 folders owned by root.
func (a account) handOver(dir string, logf func(string, ...any)) error {
	if a.cred == nil {
		return nil
	}
	if err := os.Chown(dir, a.uid, a.gid); err != nil {
		return fmt.Errorf("pgcluster: chown %s: %w", dir, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("pgcluster: let the postgres user traverse %s: %w", p, err)
			}
			logf("pgcluster: added o+x to %s so the postgres user can reach its data folder", p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
