package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Zero timeouts are not "unlimited": a zero request timeout must not leave a body to the
// header timeout, and zero header and idle timeouts still get limits.
func TestZeroTimeoutsGetLimits(t *testing.T) {
	s := newServer(nil, Options{Logger: slog.New(slog.DiscardHandler)})
	app := s.newApp(func(c *fiber.Ctx, err error) error { return c.SendStatus(fiber.StatusInternalServerError) })
	srv := app.Server()
	if srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("read %v, write %v, idle %v: want all limited", srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	if rt := srv.HeaderReceived(nil).ReadTimeout; rt < srv.ReadTimeout {
		t.Errorf("body read timeout %v, want at least the header timeout %v", rt, srv.ReadTimeout)
	}
}

// With a short header timeout and no request timeout set, a body that takes longer than the
// header timeout to arrive is still read whole.
func TestBodyOutlivesHeaderTimeout(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	s := newServer(nil, Options{HeaderTimeout: headerTimeout, Logger: slog.New(slog.DiscardHandler)})
	app := s.newApp(func(c *fiber.Ctx, err error) error { return c.SendStatus(fiber.StatusInternalServerError) })
	app.Put("/up", func(c *fiber.Ctx) error {
		n, err := io.Copy(io.Discard, c.Context().RequestBodyStream())
		if err != nil {
			return c.Status(fiber.StatusBadRequest).SendString(err.Error())
		}
		return c.SendString(strconv.FormatInt(n, 10))
	})
	s.App = app
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Listen(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const chunks = 8
	if _, err := io.WriteString(conn, "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(chunks)+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The body trickles in over about three header timeouts.
	for range chunks {
		time.Sleep(3 * headerTimeout / chunks)
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatalf("writing the body: %v", err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != strconv.Itoa(chunks) {
		t.Fatalf("status %d body %q, want 200 %q", resp.StatusCode, body, strconv.Itoa(chunks))
	}
}
