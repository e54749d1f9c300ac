package s3backend

import (
	"context"
	"io"
	"net"
	"sync"
)

// uploadChunk is how much of a request body goes to the upstream socket per write. net/http
// copies bodies through the connection's ReadFrom, which for a TCP connection fed by
// anything but a file or socket uses a 32 KiB buffer: 512 writes (and as many wake-ups of
// the body's producer) per 16 MiB. A larger chunk lets each write carry what the client
// socket had ready.
const uploadChunk = 256 << 10

var uploadBufs = sync.Pool{New: func() any { b := make([]byte, uploadChunk); return &b }}

// chunkedConn is a plain TCP connection whose ReadFrom copies in uploadChunk pieces.
type chunkedConn struct{ net.Conn }

func (c chunkedConn) ReadFrom(r io.Reader) (int64, error) {
	bp := uploadBufs.Get().(*[]byte)
	defer uploadBufs.Put(bp)
	return io.CopyBuffer(writerOnly{c.Conn}, r, *bp)
}

// writerOnly hides the connection's own ReadFrom, so CopyBuffer uses the buffer it is given.
type writerOnly struct{ io.Writer }

// dialChunked wraps dial's plain TCP connections in chunkedConn. TLS wraps the result, so
// https upstreams keep crypto/tls's own record sizes.
func dialChunked(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return chunkedConn{c}, nil
	}
}
