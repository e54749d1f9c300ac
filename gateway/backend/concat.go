package backend

import (
	"context"
	"io"
)

// Concat reads the blobs of Keys one after another, opening each only when the one before
// has ended: a multipart upload has up to 10,000 parts, and holding them all open would
// spend that many descriptors on one request. Close releases the blob being read.
type Concat struct {
	Ctx   context.Context
	Store Store
	Keys  []string
	// Err is the store's own failure (opening or reading a blob), so a caller that hands
	// the Concat to a writer can tell it from the writer's.
	Err error
	cur io.ReadCloser
}

func (c *Concat) Read(b []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.Keys) == 0 {
				return 0, io.EOF
			}
			r, err := c.Store.Open(c.Ctx, c.Keys[0], Whole)
			if err != nil {
				c.Err = err
				return 0, err
			}
			c.cur, c.Keys = r, c.Keys[1:]
		}
		n, err := c.cur.Read(b)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			c.Err = err
		}
		return n, err
	}
}

// Close closes the blob being read, if any.
func (c *Concat) Close() error {
	if c.cur == nil {
		return nil
	}
	err := c.cur.Close()
	c.cur = nil
	return err
}
