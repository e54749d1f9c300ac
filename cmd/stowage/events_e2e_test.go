package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// hookReceiver is a real HTTP receiver on loopback that records acknowledged webhook bodies.
type hookReceiver struct {
	srv  *httptest.Server
	down atomic.Bool // answer 503 to everything
	mu   sync.Mutex
	got  []hookEvent
	s3   []string // S3 notification eventNames
	// s3Keys are the S3 notifications' Key ("bucket/key").
	s3Keys []string
	// s3Auth are the Authorization headers of S3 notifications (the target's own token).
	s3Auth []string
	// purges are the CDN purges received: "type bucket/object Authorization".
	purges []string
}

type hookEvent struct {
	ID   string
	Auth string
	Body struct {
		Type  string `json:"type"`
		Event struct {
			Type      string `json:"type"`
			Region    string `json:"region"`
			Version   string `json:"$version"`
			ApplyTime int64  `json:"applyTime"`
			Payload   struct {
				BucketID   string          `json:"bucketId"`
				Name       string          `json:"name"`
				Version    string          `json:"version"`
				ReqID      string          `json:"reqId"`
				UploadType string          `json:"uploadType"`
				Metadata   json.RawMessage `json:"metadata"`
				Tenant     struct {
					Ref  string `json:"ref"`
					Host string `json:"host"`
				} `json:"tenant"`
			} `json:"payload"`
		} `json:"event"`
		SentAt string `json:"sentAt"`
		Tenant struct {
			Ref  string `json:"ref"`
			Host string `json:"host"`
		} `json:"tenant"`
	}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if h.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.URL.Path == "/cdn/purge" {
			var p struct{ Type, BucketID, ObjectName string }
			_ = json.Unmarshal(body, &p)
			h.purges = append(h.purges, p.Type+" "+p.BucketID+"/"+p.ObjectName+" "+r.Header.Get("Authorization"))
			return
		}
		if r.URL.Path == "/s3" {
			var m struct {
				Key     string
				Records []struct{ EventName string }
			}
			_ = json.Unmarshal(body, &m)
			h.s3Keys = append(h.s3Keys, m.Key)
			for _, rec := range m.Records {
				h.s3 = append(h.s3, rec.EventName)
			}
			h.s3Auth = append(h.s3Auth, r.Header.Get("Authorization"))
			return
		}
		ev := hookEvent{ID: r.Header.Get("Idempotency-Key"), Auth: r.Header.Get("Authorization")}
		if err := json.Unmarshal(body, &ev.Body); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		h.got = append(h.got, ev)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) events() []hookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// find returns the received event of type on bucket/name.
func (h *hookReceiver) find(typ, bucket, name string) (hookEvent, bool) {
	for _, e := range h.events() {
		if e.Body.Event.Type == typ && e.Body.Event.Payload.BucketID == bucket && e.Body.Event.Payload.Name == name {
			return e, true
		}
	}
	return hookEvent{}, false
}

func (h *hookReceiver) waitFor(t *testing.T, typ, bucket, name string) hookEvent {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		if e, ok := h.find(typ, bucket, name); ok {
			return e
		}
		if time.Now().After(deadline) {
			var got []string
			for _, e := range h.events() {
				got = append(got, e.Body.Event.Type+" "+e.Body.Event.Payload.BucketID+"/"+e.Body.Event.Payload.Name)
			}
			t.Fatalf("no %s for %s/%s after %s; got %q", typ, bucket, name, hangGuard, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eventsEnv(h *hookReceiver) map[string]string {
	return map[string]string{"WEBHOOK_URL": h.srv.URL + "/hook", "WEBHOOK_API_KEY": "k3y", "WEBHOOK_QUEUE_PULL_INTERVAL": "20",
		"STOWAGE_EVENTS_BACKOFF": "20", "STOWAGE_EVENTS_BACKOFF_MAX": "200", "SERVER_REGION": "local-1", "TENANT_ID": "proj",
		"STOWAGE_NOTIFY_WEBHOOKS": "n1=" + h.srv.URL + "/s3", "STOWAGE_NOTIFY_WEBHOOK_TOKENS": "n1=n1-t0ken",
		"CDN_PURGE_ENDPOINT_URL": h.srv.URL + "/cdn", "CDN_PURGE_ENDPOINT_KEY": "cdn-k3y", "STOWAGE_CDN_AUTO_PURGE": "true"}
}

// TestEventsFromEveryDialect drives REST, S3 and TUS through the real binary and checks
// that every event type reaches a webhook receiver with the reference's body.
func TestEventsFromEveryDialect(t *testing.T) {
	h := newHookReceiver(t)
	s := harness.Start(t, harness.Options{Env: eventsEnv(h)})
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	rest := func(method, path, body string, hdr map[string]string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		harness.MustStatus(t, harness.Do(t, method, s.URL+path, s.ServiceKey, r, int64(len(body)), hdr), 200)
	}
	rest("POST", "/bucket", `{"name":"ev","public":true}`, jsonHdr) // public: changes are purged from the CDN
	rest("POST", "/object/ev/rest.txt", "hello", map[string]string{"Content-Type": "text/plain"})
	// Behind a proxy: the host it names is the event's tenant.host, as the reference sends it.
	rest("PUT", "/object/ev/rest.txt", "hello again", map[string]string{"Content-Type": "text/plain", "x-upsert": "true",
		"X-Forwarded-Host": "proj.storage.example.test"})
	rest("POST", "/object/copy", `{"bucketId":"ev","sourceKey":"rest.txt","destinationKey":"copy.txt"}`, jsonHdr)
	rest("POST", "/object/move", `{"bucketId":"ev","sourceKey":"copy.txt","destinationKey":"moved.txt"}`, jsonHdr)

	// A configuration applies to events routed after it is set: let the REST events be
	// routed (delivered, so routed) first.
	h.waitFor(t, "ObjectCreated:Move", "ev", "moved.txt")
	ctx := context.Background()
	c := e2eS3(s)
	// S3 notifications for every created object in the bucket.
	_, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("ev"),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			Id: aws.String("all"), QueueArn: aws.String("arn:minio:sqs::n1:webhook"),
			Events: []s3types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("ev")})
	if err != nil || len(cfg.QueueConfigurations) != 1 || aws.ToString(cfg.QueueConfigurations[0].QueueArn) != "arn:minio:sqs::n1:webhook" {
		t.Fatalf("GetBucketNotificationConfiguration: %+v, %v", cfg, err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ev"), Key: aws.String("s3.txt"), Body: strings.NewReader("s3")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("ev"), Key: aws.String("mp.bin")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("ev"), Key: aws.String("mp.bin"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("ev"), Key: aws.String("mp.bin"),
		UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("ev"), Key: aws.String("s3.txt"),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ev"), Key: aws.String("s3.txt")}); err != nil {
		t.Fatal(err)
	}
	tusUpload(t, s, "ev", "tus.bin", "resumable bytes")

	rest("DELETE", "/object/ev/rest.txt", "", nil)
	rest("POST", "/bucket/ev/empty", "", nil)
	h.waitFor(t, "ObjectRemoved:Delete", "ev", "tus.bin") // emptied
	rest("DELETE", "/bucket/ev", "", nil)

	want := []struct{ typ, name, upload string }{
		{"Bucket:Created", "", ""},
		{"ObjectCreated:Post", "rest.txt", "standard"},
		{"ObjectCreated:Put", "rest.txt", "standard"},
		{"ObjectCreated:Copy", "copy.txt", ""},
		{"ObjectRemoved:Move", "copy.txt", ""},
		{"ObjectCreated:Move", "moved.txt", ""},
		{"ObjectCreated:Post", "s3.txt", "s3"},
		{"ObjectCreated:Post", "mp.bin", "s3"},
		{"ObjectUpdated:Metadata", "s3.txt", ""},
		{"ObjectRemoved:Delete", "s3.txt", ""},
		{"ObjectCreated:Post", "tus.bin", "resumable"},
		{"ObjectRemoved:Delete", "rest.txt", ""},
		{"ObjectRemoved:Delete", "moved.txt", ""},
		{"Bucket:Deleted", "", ""},
	}
	for _, w := range want {
		e := h.waitFor(t, w.typ, "ev", w.name)
		b := e.Body
		if b.Type != "Webhook" || b.Event.Region != "local-1" || b.Event.Version != "v1" || b.Event.ApplyTime == 0 ||
			b.SentAt == "" || b.Event.Payload.Tenant.Ref != "proj" || b.Event.Payload.ReqID == "" ||
			b.Event.Payload.UploadType != w.upload || e.Auth != "Bearer k3y" || e.ID == "" {
			t.Errorf("%s %s: %+v (auth %q, id %q)", w.typ, w.name, b, e.Auth, e.ID)
		}
		wantHost := ""
		if w.typ == "ObjectCreated:Put" && w.name == "rest.txt" {
			wantHost = "proj.storage.example.test"
		}
		if b.Event.Payload.Tenant.Host != wantHost || b.Tenant.Host != wantHost {
			t.Errorf("%s %s: tenant.host %q (top level %q), want %q", w.typ, w.name, b.Event.Payload.Tenant.Host, b.Tenant.Host, wantHost)
		}
		if strings.HasPrefix(w.typ, "ObjectCreated") && (b.Event.Payload.Version == "" || len(b.Event.Payload.Metadata) < 10) {
			t.Errorf("%s %s: no version or metadata: %+v", w.typ, w.name, b.Event.Payload)
		}
	}
	// Every S3-visible change after the configuration was set, as S3 names them.
	deadline := time.Now().Add(hangGuard)
	// (TUS and S3 multipart completions are both CompleteMultipartUpload to S3.)
	wantS3 := []string{"ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Put", "ObjectRemoved:Delete"}
	for {
		h.mu.Lock()
		got := slices.Clone(h.s3)
		h.mu.Unlock()
		slices.Sort(got)
		got = slices.Compact(got)
		if slices.Equal(got, wantS3) || time.Now().After(deadline) {
			if !slices.Equal(got, wantS3) {
				t.Errorf("S3 notifications %q, want %q", got, wantS3)
			}
			h.mu.Lock()
			for _, a := range h.s3Auth {
				if a != "Bearer n1-t0ken" {
					t.Errorf("S3 notification Authorization %q, want the target's token n1-t0ken as Bearer", a)
				}
			}
			h.mu.Unlock()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Automatic CDN purges of the public bucket's overwritten, copied or moved, and deleted
	// objects (new keys have nothing cached).
	for _, name := range []string{"rest.txt", "copy.txt", "moved.txt", "s3.txt"} {
		want := "object ev/" + name + " Bearer cdn-k3y"
		for deadline := time.Now().Add(hangGuard); ; time.Sleep(20 * time.Millisecond) {
			h.mu.Lock()
			ok := slices.Contains(h.purges, want)
			got := slices.Clone(h.purges)
			h.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no CDN purge %q; got %q", want, got)
			}
		}
	}
	metrics := string(harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/metrics", "", nil, 0, nil), 200))
	if !strings.Contains(metrics, `stowage_events_delivered_total{target="webhook"}`) {
		t.Errorf("metrics lack stowage_events_delivered_total for the webhook")
	}
}

// tusUpload creates and completes a resumable upload in one PATCH.
func tusUpload(t *testing.T, s *harness.Server, bucket, name, data string) {
	t.Helper()
	b64 := func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
	resp := harness.Do(t, "POST", s.URL+"/upload/resumable", s.ServiceKey, nil, 0, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)),
		"Upload-Metadata": "bucketName " + b64(bucket) + ",objectName " + b64(name) + ",contentType " + b64("application/octet-stream")})
	loc := resp.Header.Get("Location")
	harness.MustStatus(t, resp, 201)
	resp = harness.Do(t, "PATCH", loc, s.ServiceKey, strings.NewReader(data), int64(len(data)), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
	harness.MustStatus(t, resp, 204)
}

// TestEventsSurviveKill: the receiver is down while an upload commits; the gateway is
// killed (SIGKILL) before it could deliver; a new gateway on the same database delivers
// the event once the receiver is back. /status stays green while the target is down.
func TestEventsSurviveKill(t *testing.T) {
	h := newHookReceiver(t)
	h.down.Store(true)
	dbURL := pgtest.URL(t)
	s := harness.Start(t, harness.Options{DatabaseURL: dbURL, Env: eventsEnv(h)})
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"k9"}`), -1,
		map[string]string{"Content-Type": "application/json"}), 200)
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/object/k9/survivor.txt", s.ServiceKey, strings.NewReader("x"), 1,
		map[string]string{"Content-Type": "text/plain"}), 200)
	harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/status", "", nil, 0, nil), 200)
	s.Kill(t)
	if len(h.events()) != 0 {
		t.Fatal("the receiver acknowledged while down")
	}
	h.down.Store(false)
	s = harness.Start(t, harness.Options{DatabaseURL: dbURL, Env: eventsEnv(h)})
	e := h.waitFor(t, "ObjectCreated:Post", "k9", "survivor.txt")
	if e.Body.Event.Payload.Version == "" {
		t.Errorf("payload %+v", e.Body.Event.Payload)
	}
	s.Stop(t)
}
