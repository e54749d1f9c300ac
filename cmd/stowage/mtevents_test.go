package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/tenants"
)

// List gives every tenant, as the Registry does: the tenant event sweep walks them.
func (s *mapSource) List(context.Context) ([]*tenants.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tenants.Tenant, 0, len(s.m))
	for _, t := range s.m {
		out = append(out, &t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// waitRef waits for the webhook event of type typ on ev/name whose payload names tenant
// ref, and returns it.
func (h *hookReceiver) waitRef(t *testing.T, typ, name, ref string) hookEvent {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		for _, e := range h.events() {
			p := e.Body.Event.Payload
			if e.Body.Event.Type == typ && p.BucketID == "ev" && p.Name == name && p.Tenant.Ref == ref {
				return e
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, e := range h.events() {
				p := e.Body.Event.Payload
				got = append(got, e.Body.Event.Type+" "+p.Tenant.Ref+":"+p.BucketID+"/"+p.Name)
			}
			t.Fatalf("no %s of %s for ev/%s after %s; got %q", typ, ref, name, hangGuard, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMultiTenantEvents: two tenants, each with its own database, on multi-tenant
// gateways with a webhook and an S3 notification target (a real receiver on loopback).
// Events are recorded in each tenant's outbox and delivered with the tenant's id as
// tenant.ref, never another's:
//   - recorded by a gateway that does not dispatch (STOWAGE_EVENTS_DISPATCH=false) and
//     then stopped: a new gateway delivers them without any request of either tenant (its
//     sweep; no stack is built);
//   - while the tenants' stacks are live (REST and both S3 endpoints): their dispatchers;
//   - recorded while the receiver is down, after which the tenant's stack is retired
//     (closed): delivered once the receiver is back, with no stack of the tenant live.
func TestMultiTenantEvents(t *testing.T) {
	h := newHookReceiver(t)
	src := &mapSource{m: map[string]tenants.Tenant{}}
	secrets := map[string]string{"alpha": "alpha-secret-0123456789-0123456789-xx", "beta": "beta-secret-0123456789-0123456789-yyy"}
	for _, tn := range []string{"alpha", "beta"} {
		src.set(tenants.Tenant{ID: tn, DatabaseURL: pgtest.EmptyURL(t), JWTSecret: secrets[tn], S3Protocol: true})
	}
	service := map[string]string{"alpha": signKey(t, secrets["alpha"], "service_role"), "beta": signKey(t, secrets["beta"], "service_role")}
	env := map[string]string{"WEBHOOK_URL": h.srv.URL + "/hook", "WEBHOOK_API_KEY": "k3y",
		"WEBHOOK_QUEUE_PULL_INTERVAL": "20", "STOWAGE_EVENTS_BACKOFF": "20", "STOWAGE_EVENTS_BACKOFF_MAX": "200",
		"STOWAGE_EVENTS_MAX_ATTEMPTS": "1000", "STOWAGE_EVENTS_TENANT_SWEEP": "1",
		"STOWAGE_NOTIFY_WEBHOOKS": "n1=" + h.srv.URL + "/s3", "STOWAGE_NOTIFY_WEBHOOK_TOKENS": "n1=n1-t0ken",
		"STORAGE_FILE_BACKEND_PATH": t.TempDir()}
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	text := map[string]string{"Content-Type": "text/plain"}
	do := func(s *mtServer, method, path, tn, body string, hdr map[string]string) {
		t.Helper()
		if code, got, _ := mtDo(t, method, s.url+path, tn, service[tn], []byte(body), hdr); code != 200 {
			t.Fatalf("%s %s %s: %d %s", tn, method, path, code, got)
		}
	}
	put := func(c *s3.Client, key string) {
		t.Helper()
		if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("ev"), Key: aws.String(key),
			Body: strings.NewReader("s3 bytes")}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}
	creds := map[string][2]string{}

	t.Run("RecordedBeforeRestart", func(t *testing.T) {
		first := map[string]string{"STOWAGE_EVENTS_DISPATCH": "false"}
		for k, v := range env {
			first[k] = v
		}
		s := startMultiTenantEnv(t, src, first) // stopped when this subtest ends
		for _, tn := range []string{"alpha", "beta"} {
			do(s, "POST", "/bucket", tn, `{"name":"ev"}`, jsonHdr) // the same bucket name in both
			do(s, "POST", "/object/ev/before-"+tn+".txt", tn, "rest bytes", text)
			e, release, err := s.tenants.Engine(t.Context(), tn)
			if err != nil {
				t.Fatal(err)
			}
			c, secret, err := e.CreateS3Credential(t.Context(), gateway.NewS3Credential{Description: "events"})
			release()
			if err != nil {
				t.Fatal(err)
			}
			creds[tn] = [2]string{c.AccessKey, secret}
			client := mtS3(strings.TrimPrefix(s.url, "http://"), "/s3", tn, c.AccessKey, secret)
			_, err = client.PutBucketNotificationConfiguration(t.Context(), &s3.PutBucketNotificationConfigurationInput{
				Bucket: aws.String("ev"), NotificationConfiguration: &s3types.NotificationConfiguration{
					QueueConfigurations: []s3types.QueueConfiguration{{Id: aws.String("all"),
						QueueArn: aws.String("arn:minio:sqs::n1:webhook"),
						Events:   []s3types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}}}}})
			if err != nil {
				t.Fatalf("%s PutBucketNotificationConfiguration: %v", tn, err)
			}
			put(client, "s3before-"+tn+".txt")
		}
	})

	closed := make(chan string, 16)
	s := startMultiTenantWith(t, multiTenant{Source: src, MaxStacks: 4, StackClosed: func(id string) {
		select {
		case closed <- id:
		default:
		}
	}}, env)

	t.Run("DeliveredAfterRestart", func(t *testing.T) {
		// No request reaches the new gateway: its sweep delivers both tenants' outboxes.
		for _, tn := range []string{"alpha", "beta"} {
			h.waitRef(t, "Bucket:Created", "", tn)
			if e := h.waitRef(t, "ObjectCreated:Post", "before-"+tn+".txt", tn); e.Body.Event.Payload.UploadType != "standard" {
				t.Errorf("%s before: uploadType %q", tn, e.Body.Event.Payload.UploadType)
			}
			if e := h.waitRef(t, "ObjectCreated:Post", "s3before-"+tn+".txt", tn); e.Body.Event.Payload.UploadType != "s3" {
				t.Errorf("%s s3before: uploadType %q", tn, e.Body.Event.Payload.UploadType)
			}
		}
		if n := s.tenants.Len(); n != 0 {
			t.Errorf("%d tenant stacks built; the sweep delivers without one", n)
		}
	})

	t.Run("LiveStacks", func(t *testing.T) {
		for _, tn := range []string{"alpha", "beta"} {
			do(s, "POST", "/object/ev/live-"+tn+".txt", tn, "live bytes", text)
			do(s, "DELETE", "/object/ev/before-"+tn+".txt", tn, "", nil)
			put(mtS3(strings.TrimPrefix(s.s3url, "http://"), "", tn, creds[tn][0], creds[tn][1]), "s3live-"+tn+".txt")
		}
		for _, tn := range []string{"alpha", "beta"} {
			h.waitRef(t, "ObjectCreated:Post", "live-"+tn+".txt", tn)
			h.waitRef(t, "ObjectRemoved:Delete", "before-"+tn+".txt", tn)
			h.waitRef(t, "ObjectCreated:Post", "s3live-"+tn+".txt", tn)
		}
	})

	t.Run("StackRetired", func(t *testing.T) {
		h.down.Store(true) // every delivery fails (and backs off) until the receiver is back
		do(s, "POST", "/object/ev/late-alpha.txt", "alpha", "late bytes", text)
		for len(closed) > 0 {
			<-closed
		}
		s.tenants.Forget("alpha") // as tenants_update, the LRU bound or idleness retire it
		timeout := time.After(hangGuard)
		for id := ""; id != "alpha"; {
			select {
			case id = <-closed:
			case <-timeout:
				t.Fatalf("alpha's stack not closed after %s", hangGuard)
			}
		}
		h.down.Store(false)
		h.waitRef(t, "ObjectCreated:Post", "late-alpha.txt", "alpha")
		if s.tenants.Live("alpha") {
			t.Error("alpha has a stack again; the event was to be delivered without one")
		}
	})

	// Every webhook event names its own tenant: objects are named after theirs.
	for _, e := range h.events() {
		b := e.Body
		ref := b.Event.Payload.Tenant.Ref
		if (ref != "alpha" && ref != "beta") || b.Tenant.Ref != ref || e.Auth != "Bearer k3y" || e.ID == "" {
			t.Errorf("event %s %s: tenant %q (top level %q), auth %q, id %q", b.Event.Type, b.Event.Payload.Name,
				ref, b.Tenant.Ref, e.Auth, e.ID)
		}
		// tenant.host: the X-Forwarded-Host the request named the tenant by, as the reference.
		if host := b.Event.Payload.Tenant.Host; host != hostOf(ref) || b.Tenant.Host != host {
			t.Errorf("event %s %s of %s: tenant.host %q (top level %q), want %q", b.Event.Type, b.Event.Payload.Name,
				ref, host, b.Tenant.Host, hostOf(ref))
		}
		if name := b.Event.Payload.Name; name != "" && !strings.HasSuffix(name, "-"+ref+".txt") {
			t.Errorf("event %s of %s carries tenant.ref %q", b.Event.Type, name, ref)
		}
	}
	// S3 notifications for every object change after the configuration, of both tenants.
	var want []string
	for _, tn := range []string{"alpha", "beta"} {
		for _, k := range []string{"before-", "s3before-", "live-", "s3live-"} {
			want = append(want, "ev/"+k+tn+".txt")
		}
	}
	want = append(want, "ev/late-alpha.txt")
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		got, auth := slices.Clone(h.s3Keys), slices.Clone(h.s3Auth)
		h.mu.Unlock()
		missing := slices.DeleteFunc(slices.Clone(want), func(k string) bool { return slices.Contains(got, k) })
		if len(missing) == 0 {
			for _, a := range auth {
				if a != "Bearer n1-t0ken" {
					t.Errorf("S3 notification Authorization %q", a)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 notifications missing %q; got %q", missing, got)
		}
	}
	code, metrics, _ := mtDo(t, "GET", s.url+"/metrics", "", "", nil, nil)
	if code != 200 || !strings.Contains(metrics, `stowage_events_delivered_total{target="webhook"}`) {
		t.Errorf("/metrics: %d, no stowage_events_delivered_total of the webhook", code)
	}
}

// TestTenantEventSweepLock: gateways on one control database sweep tenants' outboxes one
// at a time: while one holds the sweep lock another does not get it; once released (its
// connection closed), the other does.
func TestTenantEventSweepLock(t *testing.T) {
	env := map[string]string{"WEBHOOK_URL": "http://127.0.0.1:9/hook", "DATABASE_MULTITENANT_URL": pgtest.EmptyURL(t)}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	mt := multiTenant{Source: &mapSource{m: map[string]tenants.Tenant{}}}
	first, second := newTenantEvents(cfg, mt, slog.Default()), newTenantEvents(cfg, mt, slog.Default())
	if first == nil || first.lock == nil || first.list == nil {
		t.Fatal("no sweep lock or tenant list with a control database and a webhook")
	}
	release, ok, err := first.lock(t.Context())
	if err != nil || !ok {
		t.Fatalf("first gateway: lock %v, %v", ok, err)
	}
	if _, ok, err := second.lock(t.Context()); err != nil || ok {
		t.Fatalf("second gateway while the first sweeps: lock %v, %v; want false", ok, err)
	}
	release()
	// The server ends the session (and frees the lock) after the client closed it.
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(20 * time.Millisecond) {
		release2, ok, err := second.lock(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			release2()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second gateway: no sweep lock %s after the first released it", hangGuard)
		}
	}
}

// startControlPlane runs serveControlPlane with env until stop is called (or the test
// ends) and returns its main URL once /status answers.
func startControlPlane(t *testing.T, env map[string]string) (url string, stop func()) {
	t.Helper()
	port := harness.FreePort(t)
	full := map[string]string{"SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(port), "STOWAGE_DATA_DIR": t.TempDir(),
		"LOG_LEVEL": "warn"}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := LoadConfig(func(k string) string { return full[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveControlPlane(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serveControlPlane: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	url = "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stop
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serveControlPlane ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
	}
}

// TestMultiTenantEventsControlPlane: with the control database as the tenants' source (the
// Registry, as `stowage serve` with MULTI_TENANT), events recorded by a gateway that does
// not dispatch are delivered, after it stopped, by a new gateway that gets no request: its
// sweep lists the tenants from the control database and takes the sweep lock there.
func TestMultiTenantEventsControlPlane(t *testing.T) {
	h := newHookReceiver(t)
	const key = "events-control-plane-encryption-key"
	cp := newControlPlane(t, key, "alpha", "beta")
	control := cp.url
	service := map[string]string{}
	for id, secret := range cp.secrets {
		service[id] = signKey(t, secret, "service_role")
	}
	env := map[string]string{"MULTI_TENANT": "true", "DATABASE_MULTITENANT_URL": control, "ENCRYPTION_KEY": key,
		"REQUEST_X_FORWARDED_HOST_REGEXP": mtHostRegexp, "DB_INSTALL_ROLES": "true",
		"STORAGE_FILE_BACKEND_PATH": t.TempDir(), "WEBHOOK_URL": h.srv.URL + "/hook", "WEBHOOK_API_KEY": "k3y",
		"WEBHOOK_QUEUE_PULL_INTERVAL": "20", "STOWAGE_EVENTS_TENANT_SWEEP": "1", "STOWAGE_EVENTS_DISPATCH": "false"}
	url, stop := startControlPlane(t, env)
	for _, tn := range []string{"alpha", "beta"} {
		if code, body, _ := mtDo(t, "POST", url+"/bucket", tn, service[tn], []byte(`{"name":"ev"}`), map[string]string{"Content-Type": "application/json"}); code != 200 {
			t.Fatalf("%s create bucket: %d %s", tn, code, body)
		}
		if code, body, _ := mtDo(t, "POST", url+"/object/ev/cp-"+tn+".txt", tn, service[tn], []byte("bytes"), map[string]string{"Content-Type": "text/plain"}); code != 200 {
			t.Fatalf("%s upload: %d %s", tn, code, body)
		}
	}
	stop()
	env["STOWAGE_EVENTS_DISPATCH"] = "true"
	startControlPlane(t, env) // no request reaches it
	for _, tn := range []string{"alpha", "beta"} {
		h.waitRef(t, "Bucket:Created", "", tn)
		if e := h.waitRef(t, "ObjectCreated:Post", "cp-"+tn+".txt", tn); e.Body.Tenant.Ref != tn || e.Body.Event.Payload.Tenant.Host != hostOf(tn) {
			t.Errorf("%s: tenant %+v / %+v", tn, e.Body.Tenant, e.Body.Event.Payload.Tenant)
		}
	}
}
