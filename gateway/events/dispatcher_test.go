package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/events"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var roles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

var serviceScope = db.Scope{Role: "service_role"}

// hangGuard bounds every wait: it fails only when something is clearly stuck.
const hangGuard = 3 * time.Minute

type env struct {
	db     *db.DB
	store  backend.Store
	engine *gateway.Engine
	url    string
}

func newEnv(t testing.TB, arns ...string) *env {
	t.Helper()
	url := pgtest.URL(t)
	d, err := db.Open(context.Background(), url, db.Options{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := gateway.New(d, store, gateway.Options{Roles: roles, TenantID: "ref1", Region: "local", Events: true,
		NotificationARNs: arns})
	return &env{db: d, store: store, engine: e, url: url}
}

func service() gateway.Caller { return gateway.Caller{Principal: roles.ServicePrincipal("")} }

func (e *env) bucket(t testing.TB, id string) {
	t.Helper()
	if _, err := e.engine.CreateBucket(context.Background(), service(), gateway.CreateBucket{ID: id, FileSizeLimit: gateway.NoLimit}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) put(t *testing.T, bucket, key, data string) {
	t.Helper()
	_, err := e.engine.PutObject(context.Background(), service(), gateway.PutObject{Bucket: bucket, Key: key,
		Body: bytes.NewReader([]byte(data)), Size: int64(len(data)), Upsert: true})
	if err != nil {
		t.Fatal(err)
	}
}

// receipt is one request the receiver got.
type receipt struct {
	id, auth string
	body     []byte
	acked    bool
}

// receiver is a real HTTP server on loopback; answer decides each reply (nil: 200).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []receipt
	answer func(n int, r receipt) int // n: requests so far with this id
}

func newReceiver(t *testing.T, answer func(n int, r receipt) int) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		rec := receipt{id: r.Header.Get(events.IdempotencyHeader), auth: r.Header.Get("Authorization"), body: body}
		rc.mu.Lock()
		n := 0
		for _, g := range rc.got {
			if g.id == rec.id {
				n++
			}
		}
		code := 200
		if rc.answer != nil {
			code = rc.answer(n, rec)
		}
		rec.acked = code/100 == 2
		rc.got = append(rc.got, rec)
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) receipts() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func (rc *receiver) acked() []receipt {
	var out []receipt
	for _, r := range rc.receipts() {
		if r.acked {
			out = append(out, r)
		}
	}
	return out
}

func webhook(rc *receiver) *events.Webhook {
	return &events.Webhook{URL: rc.srv.URL, APIKey: "hook-key", Client: events.NewHTTPClient(30*time.Second, 16)}
}

func fastOptions(e *env, targets ...events.Target) events.Options {
	return events.Options{DB: e.db, Scope: serviceScope, Targets: targets, Poll: 5 * time.Millisecond,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, MaxAttempts: 100,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// run starts a dispatcher until the test ends.
func run(t *testing.T, opts events.Options) *events.Dispatcher {
	d := events.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// waitFor polls cond until it holds; it fails only after hangGuard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %s", what, hangGuard)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pending counts the events not routed yet and the deliveries not delivered (the id bound
// on both sides keeps the count in the index while a benchmark's outbox grows).
func (e *env) pending(t testing.TB) int {
	var n int
	err := e.db.Pool().QueryRow(context.Background(),
		`select (select count(*) from stowage.events where id > (select routed_to from stowage.event_route_mark) and id <= (select max(id) from stowage.events))
			+ (select count(*) from stowage.event_deliveries where state <> 'delivered')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) eventIDs(t *testing.T) []string {
	rows, _ := e.db.Pool().Query(context.Background(), `select event_id::text from stowage.events order by id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestWebhookBodyAndHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.bucket(t, "photos")
	e.put(t, "photos", "a b/c.png", "png")
	run(t, fastOptions(e, webhook(rc)))
	waitFor(t, "two deliveries", func() bool { return len(rc.acked()) == 2 })
	// The bucket's and the object's events have different keys: they may arrive in any order.
	r := rc.acked()[1]
	if !bytes.Contains(r.body, []byte("ObjectCreated")) {
		r = rc.acked()[0]
	}
	if r.auth != "Bearer hook-key" || r.id != e.eventIDs(t)[1] {
		t.Errorf("headers: auth %q id %q", r.auth, r.id)
	}
	var body struct {
		Type  string `json:"type"`
		Event struct {
			Type      string `json:"type"`
			Region    string `json:"region"`
			Version   string `json:"$version"`
			ApplyTime int64  `json:"applyTime"`
			Payload   struct {
				BucketID   string `json:"bucketId"`
				Name       string `json:"name"`
				Version    string `json:"version"`
				UploadType string `json:"uploadType"`
				Metadata   struct {
					Size     int64  `json:"size"`
					Mimetype string `json:"mimetype"`
				} `json:"metadata"`
				Tenant struct{ Ref string } `json:"tenant"`
			} `json:"payload"`
		} `json:"event"`
		SentAt string `json:"sentAt"`
		Tenant struct {
			Ref string `json:"ref"`
		} `json:"tenant"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	p := body.Event.Payload
	if body.Type != "Webhook" || body.Event.Type != "ObjectCreated:Post" || body.Event.Region != "local" ||
		body.Event.Version != "v1" || body.Event.ApplyTime == 0 || body.SentAt == "" || body.Tenant.Ref != "ref1" ||
		p.BucketID != "photos" || p.Name != "a b/c.png" || p.Version == "" || p.UploadType != "standard" ||
		p.Metadata.Size != 3 || p.Tenant.Ref != "ref1" {
		t.Errorf("body %s", r.body)
	}
}

func TestFailsThreeTimesThenDeliveredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, func(n int, _ receipt) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	e.bucket(t, "b")
	d := run(t, fastOptions(e, webhook(rc)))
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 && len(rc.acked()) == 1 })
	got := rc.receipts()
	if len(got) != 4 || len(rc.acked()) != 1 {
		t.Fatalf("receipts %d (acked %d), want 3 failures and 1 acknowledgement", len(got), len(rc.acked()))
	}
	for _, r := range got {
		if r.id != got[0].id || !bytes.Equal(r.body[:bytes.Index(r.body, []byte(`"sentAt"`))], got[0].body[:bytes.Index(got[0].body, []byte(`"sentAt"`))]) {
			t.Errorf("retry differs: %s vs %s", r.body, got[0].body)
		}
	}
	waitFor(t, "metrics", func() bool {
		return counter(t, d, "stowage_events_retried_total") == 3 && counter(t, d, "stowage_events_delivered_total") == 1
	})
}

func counter(t *testing.T, d *events.Dispatcher, name string) float64 {
	t.Helper()
	var sum float64
	for _, c := range d.Metrics().Collectors() {
		ch := make(chan prometheusMetric, 64)
		go func() { collect(c, ch); close(ch) }()
		for m := range ch {
			if m.name == name {
				sum += m.value
			}
		}
	}
	return sum
}

func TestReceiverDownThenUpKeepsOrderPerKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	up := false
	rc := newReceiver(t, func(int, receipt) int {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			return http.StatusBadGateway
		}
		return 200
	})
	e.bucket(t, "ord")
	run(t, fastOptions(e, webhook(rc)))
	for i := range 8 {
		for k := range 3 {
			e.put(t, "ord", fmt.Sprintf("key-%d", k), fmt.Sprint(i))
		}
	}
	waitFor(t, "failed attempts while down", func() bool { return len(rc.receipts()) >= 10 })
	mu.Lock()
	up = true
	mu.Unlock()
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	ids := e.eventIDs(t)
	seq := map[string]int{}
	for i, id := range ids {
		seq[id] = i
	}
	last := map[string]int{}
	seen := map[string]bool{}
	for _, r := range rc.acked() {
		var b struct {
			Event struct {
				Payload struct{ Name string } `json:"payload"`
			} `json:"event"`
		}
		_ = json.Unmarshal(r.body, &b)
		name := b.Event.Payload.Name
		if prev, ok := last[name]; ok && seq[r.id] < prev {
			t.Errorf("key %q: event %d acknowledged after %d", name, seq[r.id], prev)
		}
		last[name] = seq[r.id]
		seen[r.id] = true
	}
	if len(seen) != len(ids) {
		t.Errorf("%d of %d events acknowledged", len(seen), len(ids))
	}
}

func TestTwoDispatchersShareWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.bucket(t, "two")
	for i := range 60 {
		e.put(t, "two", fmt.Sprintf("k%d", i%7), fmt.Sprint(i))
	}
	opts := fastOptions(e, webhook(rc))
	opts.Batch, opts.InFlight = 5, 3
	run(t, opts)
	run(t, opts)
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	ids := e.eventIDs(t)
	count := map[string]int{}
	for _, r := range rc.receipts() {
		count[r.id]++
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("event %s received %d times (no attempt failed, so exactly once)", id, count[id])
		}
	}
	if len(count) != len(ids) {
		t.Errorf("received %d distinct events, want %d", len(count), len(ids))
	}
}

// A dispatcher that dies after claiming (its lease runs) and one that was not running when
// the events committed: a dispatcher started later delivers them all.
func TestDispatcherRestartDeliversWhatWasCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.bucket(t, "crash")
	e.put(t, "crash", "k", "1")
	// The dead dispatcher: it routed and claimed with a short lease, then vanished.
	first := events.New(fastOptions(e, webhook(rc)))
	_ = first
	n, err := e.db.RouteEvents(context.Background(), serviceScope, 100, func(_ context.Context, _ db.Tx, evs []db.Event) ([]db.Delivery, error) {
		var out []db.Delivery
		for _, ev := range evs {
			out = append(out, db.Delivery{Event: ev, Target: "webhook"})
		}
		return out, nil
	})
	if err != nil || n != 2 {
		t.Fatalf("route: %d, %v", n, err)
	}
	// Bucket:Created is claimed; the object's event waits for it (bucket events go first).
	claimed, err := e.db.ClaimDeliveries(context.Background(), serviceScope, "webhook", 10, 200*time.Millisecond)
	if err != nil || len(claimed) != 1 || claimed[0].Type != gateway.EventBucketCreated {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	e.put(t, "crash", "k", "2") // committed while no dispatcher runs
	run(t, fastOptions(e, webhook(rc)))
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	if got, want := len(rc.acked()), 3; got != want {
		t.Errorf("acknowledged %d, want %d", got, want)
	}
}

func TestDeadLetterAndRedrive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	broken := true
	rc := newReceiver(t, func(int, receipt) int {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return 500
		}
		return 200
	})
	e.bucket(t, "dl")
	opts := fastOptions(e, webhook(rc))
	opts.MaxAttempts = 2
	run(t, opts)
	waitFor(t, "dead letter", func() bool {
		dead, err := e.db.DeadDeliveries(context.Background(), serviceScope, 10)
		return err == nil && len(dead) == 1
	})
	if len(rc.receipts()) != 2 {
		t.Errorf("%d attempts, want 2", len(rc.receipts()))
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	if n, err := e.db.RedriveDeliveries(context.Background(), serviceScope, nil); err != nil || n != 1 {
		t.Fatalf("redrive: %d, %v", n, err)
	}
	waitFor(t, "re-driven delivery", func() bool { return len(rc.acked()) == 1 })
}

func TestNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conn, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `listen storage_events`); err != nil {
		t.Fatal(err)
	}
	e.bucket(t, "nb")
	run(t, fastOptions(e, &events.Notify{DB: e.db, Channel: "storage_events"}))
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ID, Type, BucketID string
	}
	if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != e.eventIDs(t)[0] || p.Type != "Bucket:Created" || p.BucketID != "nb" {
		t.Errorf("payload %s", n.Payload)
	}
}

func TestS3NotificationsFilterAndRecord(t *testing.T) {
	t.Parallel()
	const arn = "arn:minio:sqs::hook1:webhook"
	e := newEnv(t, arn)
	rc := newReceiver(t, nil)
	e.bucket(t, "s3n")
	err := e.engine.SetBucketNotification(context.Background(), service(), "s3n", gateway.NotificationConfig{Rules: []gateway.NotificationRule{
		{ID: "img", ARN: arn, Events: []string{"s3:ObjectCreated:*"}, Prefix: "img/", Suffix: ".jpg"},
		{ID: "del", ARN: arn, Events: []string{"s3:ObjectRemoved:Delete"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.engine.SetBucketNotification(context.Background(), service(), "s3n", gateway.NotificationConfig{Rules: []gateway.NotificationRule{
		{ARN: "arn:minio:sqs::nope:webhook", Events: []string{"s3:ObjectCreated:*"}}}})
	if gateway.CodeOf(err) != gateway.CodeInvalidArgument {
		t.Errorf("unknown ARN: %v", err)
	}
	e.put(t, "s3n", "img/a b+c.jpg", "jpeg")
	e.put(t, "s3n", "img/skip.png", "png")
	e.put(t, "s3n", "doc/skip.jpg", "jpeg")
	if _, err := e.engine.DeleteObject(context.Background(), service(), "s3n", "doc/skip.jpg"); err != nil {
		t.Fatal(err)
	}
	opts := fastOptions(e)
	opts.S3Targets = map[string]events.Target{arn: &events.S3Webhook{ARN: arn, URL: rc.srv.URL, Region: "local", AuthToken: "hook1-t0ken"}}
	run(t, opts)
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	got := rc.acked()
	if len(got) != 2 {
		t.Fatalf("%d notifications, want 2", len(got))
	}
	for _, g := range got {
		if g.auth != "Bearer hook1-t0ken" {
			t.Errorf("Authorization %q, want the target's token as Bearer", g.auth)
		}
	}
	// Different keys: delivered concurrently, in any order.
	if bytes.Contains(got[0].body, []byte("ObjectRemoved")) {
		got[0], got[1] = got[1], got[0]
	}
	var m events.S3Message
	if err := json.Unmarshal(got[0].body, &m); err != nil {
		t.Fatal(err)
	}
	r := m.Records[0]
	if m.EventName != "s3:ObjectCreated:Put" || m.Key != "s3n/img/a b+c.jpg" || r.EventName != "ObjectCreated:Put" ||
		r.S3.Bucket.Name != "s3n" || r.S3.Object.Key != "img/a+b%2Bc.jpg" || r.S3.Object.Size != 4 ||
		len(r.S3.Object.ETag) != 32 || r.S3.ConfigurationID != "img" || len(r.S3.Object.Sequencer) != 16 || r.AWSRegion != "local" {
		t.Errorf("record %s", got[0].body)
	}
	if err := json.Unmarshal(got[1].body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Records[0].EventName != "ObjectRemoved:Delete" || m.Records[0].S3.Object.Key != "doc/skip.jpg" || m.Records[0].S3.ConfigurationID != "del" {
		t.Errorf("record %s", got[1].body)
	}
	cfg, err := e.engine.BucketNotification(context.Background(), service(), "s3n")
	if err != nil || len(cfg.Rules) != 2 || cfg.Rules[0].Prefix != "img/" {
		t.Errorf("config %+v, %v", cfg, err)
	}
}

// TestBucketEventsOrderedWithObjectEvents: a bucket's Bucket:Created goes out before the
// events of its objects, even while it is being retried, and Bucket:Deleted after the
// deletes that emptied it.
func TestBucketEventsOrderedWithObjectEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, func(n int, r receipt) int {
		if n < 2 && (bytes.Contains(r.body, []byte(`"Bucket:Created"`)) || bytes.Contains(r.body, []byte(`"ObjectRemoved:Delete"`))) {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.bucket(t, "ord")
	for _, k := range []string{"a", "b", "c"} {
		e.put(t, "ord", k, k)
	}
	if _, err := e.engine.DeleteObjects(context.Background(), service(), "ord", []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.DeleteBucket(context.Background(), service(), "ord", gateway.DeleteBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, fastOptions(e, webhook(rc)))
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	var types []string
	for _, r := range rc.acked() {
		var b struct {
			Event struct {
				Type string `json:"type"`
			} `json:"event"`
		}
		_ = json.Unmarshal(r.body, &b)
		types = append(types, b.Event.Type)
	}
	if len(types) != 8 || types[0] != gateway.EventBucketCreated || types[7] != gateway.EventBucketDeleted {
		t.Errorf("acknowledged in order %q, want Bucket:Created first and Bucket:Deleted last", types)
	}
}
