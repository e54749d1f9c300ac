package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
)

// relay is the physical limit of putting any gateway in front of an S3 server: a TCP relay
// that does no work but move bytes (Go splices TCP to TCP on Linux, so not even a copy
// through user space). SigV4 signs the Host header the client sent, which the relay passes
// on unchanged, so MinIO accepts the requests as its own. `stowage-bench relay LISTEN
// UPSTREAM` runs it as a process of its own, so its CPU can be watched apart from the
// client's; scripts/bench-load.sh measures MinIO behind it as the "bare hop" peer.
func relay(listen, upstream string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println("relay", l.Addr(), "->", upstream)
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				fmt.Fprintln(os.Stderr, "relay:", err)
				return
			}
			defer u.Close()
			var wg sync.WaitGroup
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				// Half-close so the other side sees the end of a body-less stream.
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			wg.Go(func() { pipe(u, c) })
			pipe(c, u)
			wg.Wait()
		}()
	}
}
