package rest

import (
	"io"

	"github.com/gofiber/fiber/v2"
)

// maxDrain is how much unread body a refused request may still have for the connection
// to stay open: those bytes are read and dropped. Closing instead, while the client is
// still sending, resets the connection and the client may lose the answer (Node's fetch
// reports "fetch failed" instead of the 413). Larger bodies close the connection.
const maxDrain = 8 << 20

// releaseBody leaves the connection ready for the next request after an error answer:
// the rest of the body is read and dropped when it is small, else the connection closes
// after the reply instead of parsing object bytes as the next request.
func releaseBody(c *fiber.Ctx) {
	cl := c.Request().Header.ContentLength()
	if cl == 0 || cl < -1 {
		return
	}
	s := c.Context().RequestBodyStream()
	if cl > maxDrain || s == nil {
		c.Context().SetConnectionClose()
		return
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(s, maxDrain+1)); err != nil || n > maxDrain {
		c.Context().SetConnectionClose()
	}
}
