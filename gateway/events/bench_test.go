package events_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/events"
)

// BenchmarkWriteThroughput compares 1 KiB uploads (parallel writers) with events off, with
// events recorded but not delivered (outbox), and with a dispatcher delivering every event
// to a loopback webhook meanwhile (on one machine, it competes with the writers for CPU).
// The receiver runs in a process of its own (testdata/receiver): cpu-ms/op is Stowage's
// CPU (writers and dispatcher), recv-cpu-ms/op the receiver's. post-only is the floor of
// any design that delivers every event over HTTP: events off, and each upload followed by
// one webhook POST of an event body to the receiver (16 at a time, as the dispatcher's
// in-flight limit), with nothing recorded, routed or acknowledged in Postgres.
//
//	go test -run '^$' -bench WriteThroughput -benchtime 2000x ./gateway/events/
func BenchmarkWriteThroughput(b *testing.B) {
	for _, mode := range []string{"off", "outbox", "webhook", "post-only", "off"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			e.bucket(b, "bench")
			// Objects as small as these keep their bytes in Postgres, as the server's default
			// STOWAGE_INLINE_MAX_BYTES does.
			e.engine = gateway.New(e.db, e.store, gateway.Options{Roles: roles, TenantID: "ref1", Region: "local",
				Events: mode == "outbox" || mode == "webhook", InlineMax: 8192})
			var rc *benchReceiver
			if mode == "webhook" || mode == "post-only" {
				rc = startReceiver(b)
			}
			post := func(string) {}
			if mode == "post-only" {
				post = postOnly(b, rc.url)
			}
			if mode == "webhook" {
				d := events.New(events.Options{DB: e.db, Scope: serviceScope, Targets: []events.Target{
					&events.Webhook{URL: rc.url, Client: events.NewHTTPClient(30*time.Second, 16)}}, Poll: 50 * time.Millisecond})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { d.Run(ctx); close(done) }()
				defer func() { cancel(); <-done }()
			}
			data := bytes.Repeat([]byte("x"), 1024)
			var n atomic.Int64
			b.SetBytes(int64(len(data)))
			cpu := newCPUMeter(b, e.db)
			recv0 := rc.cpu()
			self0, pg0 := cpu.sample()
			tx0 := cpu.transactions()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("k/%d", n.Add(1))
					_, err := e.engine.PutObject(context.Background(), service(), gateway.PutObject{Bucket: "bench", Key: key,
						Body: bytes.NewReader(data), Size: int64(len(data)), Upsert: true})
					if err != nil {
						b.Error(err)
						return
					}
					post(key)
				}
			})
			post("")
			var backlog int
			if mode == "webhook" {
				// Events not yet delivered when the writes ended: a dispatcher that keeps up
				// leaves a backlog of about one batch, not a growing share of b.N. The
				// measurement goes on until they are delivered, so that their delivery is
				// charged: before, a dispatcher that fell behind looked cheap.
				backlog = e.pending(b)
				waitDelivered(b, e)
			}
			b.StopTimer()
			cpu.report(b, self0, pg0)
			if rc != nil {
				b.ReportMetric(float64(rc.cpu()-recv0)/float64(time.Millisecond)/float64(b.N), "recv-cpu-ms/op")
			}
			b.ReportMetric(float64(cpu.transactions()-tx0)/float64(b.N), "pg-tx/op")
			if mode == "webhook" {
				b.ReportMetric(float64(backlog), "backlog")
			}
		})
	}
}

// waitDelivered returns once every event recorded has been delivered (a hang guard of ten
// minutes aside). It is waitFor at a quarter of its pace: its queries are charged to the
// benchmark's Postgres CPU.
func waitDelivered(b *testing.B, e *env) {
	b.Helper()
	for give := time.Now().Add(10 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		n := e.pending(b)
		if n == 0 {
			return
		}
		if time.Now().After(give) {
			b.Fatalf("%d events still undelivered", n)
		}
	}
}

// postOnly returns post: post(key) notes an upload of key, and the events of the uploads
// noted are posted as a dispatcher with nothing to hold back posts them: whatever came in
// during the last 50 ms (the dispatcher's linger), 16 at a time. post("") posts the rest
// and waits until every one was acknowledged.
func postOnly(b *testing.B, url string) func(key string) {
	w := &events.Webhook{URL: url, Client: events.NewHTTPClient(30*time.Second, 16)}
	var mu sync.Mutex
	var keys []string
	deliver := func(batch []string) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, key := range batch {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				body := fmt.Sprintf(`{"type":"ObjectCreated:Post","region":"local","$version":"v1","applyTime":%d,"payload":{"bucketId":"bench","name":%q,`+
					`"version":"%s","metadata":{"eTag":"\"0f343b0931126a20f133d67c2b018a3b\"","size":1024,"mimetype":"application/octet-stream",`+
					`"cacheControl":"no-cache","lastModified":"2026-12-03T16:00:00.000Z","contentLength":1024,"httpStatusCode":200},`+
					`"uploadType":"standard","reqId":"","tenant":{"ref":"ref1","host":""}}}`, time.Now().UnixMilli(), key, uuid.NewString())
				if err := w.Deliver(context.Background(), db.Delivery{Event: db.Event{EventID: uuid.NewString(), Body: []byte(body)}, Attempts: 1}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		batch := keys
		keys = nil
		return batch
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				deliver(take())
				return
			case <-time.After(50 * time.Millisecond):
				deliver(take())
			}
		}
	}()
	return func(key string) {
		if key == "" {
			close(stop)
			<-stopped
			return
		}
		mu.Lock()
		keys = append(keys, key)
		mu.Unlock()
	}
}

var buildReceiver = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "stowage-receiver")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "receiver")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/receiver").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build receiver: %v: %s", err, out)
	}
	return bin, nil
})

// benchReceiver is a webhook receiver in a process of its own (testdata/receiver).
type benchReceiver struct {
	url string
	pid int
}

func startReceiver(b *testing.B) *benchReceiver {
	b.Helper()
	bin, err := buildReceiver()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return &benchReceiver{url: strings.TrimSpace(line), pid: cmd.Process.Pid}
}

// cpu is the CPU the receiver used so far (0 for no receiver).
func (r *benchReceiver) cpu() time.Duration {
	if r == nil {
		return 0
	}
	f, err := procStat(r.pid)
	if err != nil {
		return 0
	}
	return ticks(f, 11, 12)
}

// BenchmarkDispatch is the dispatcher's own cost per event: b.N uploads are recorded with
// no dispatcher running, then one dispatcher delivers them all to a receiver in a process
// of its own. cpu-ms/op is this process's CPU (the dispatcher alone: nothing else runs
// meanwhile), pg-cpu-ms/op Postgres', pg-tx/op the dispatcher's transactions per event.
//
//	go test -run '^$' -bench Dispatch -benchtime 2000x ./gateway/events/
func BenchmarkDispatch(b *testing.B) {
	e := newEnv(b)
	e.bucket(b, "bench")
	data := bytes.Repeat([]byte("x"), 1024)
	for i := range b.N {
		_, err := e.engine.PutObject(context.Background(), service(), gateway.PutObject{Bucket: "bench",
			Key: fmt.Sprintf("k/%d", i), Body: bytes.NewReader(data), Size: int64(len(data)), Upsert: true})
		if err != nil {
			b.Fatal(err)
		}
	}
	rc := startReceiver(b)
	d := events.New(events.Options{DB: e.db, Scope: serviceScope, Targets: []events.Target{
		&events.Webhook{URL: rc.url, Client: events.NewHTTPClient(30*time.Second, 16)}}, Poll: 50 * time.Millisecond})
	cpu := newCPUMeter(b, e.db)
	tx0 := cpu.transactions()
	recv0 := rc.cpu()
	self0, pg0 := cpu.sample()
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitDelivered(b, e)
	cancel()
	<-done
	b.StopTimer()
	cpu.report(b, self0, pg0)
	b.ReportMetric(float64(rc.cpu()-recv0)/float64(time.Millisecond)/float64(b.N), "recv-cpu-ms/op")
	b.ReportMetric(float64(cpu.transactions()-tx0)/float64(b.N), "pg-tx/op")
}
