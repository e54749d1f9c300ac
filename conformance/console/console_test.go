// Package console drives the web console (/console) in a real headless Chromium through
// the Chrome DevTools Protocol (chromedp): sign in, create a bucket, upload 30 MiB with
// TUS while watching the progress bar, reload mid-upload and resume, preview an image
// through /render/image, fetch a signed URL, delete, and read the storage report.
// Screenshots of each page go to a temporary folder named in the test log.
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// hangGuard bounds every wait on the browser: generous, it only turns a hang into a
// failure that names the step.
const hangGuard = 3 * time.Minute

// browser starts headless Chromium (Debian's package, installed by scripts/deps.sh
// --test) with a fresh profile and no background traffic.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no chromium on PATH: run scripts/deps.sh --test (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser now, so a missing library fails here with a clear message.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// page wraps the browser tab with the steps the test repeats.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string
	n     int
}

func (p *page) run(what string, actions ...chromedp.Action) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, hangGuard)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// wait polls a JS expression until it is truthy.
func (p *page) wait(what, expr string) {
	p.t.Helper()
	var ok bool
	p.run("wait for "+what, chromedp.Poll("!!("+expr+")", &ok, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(hangGuard)))
}

func (p *page) eval(what, expr string, out any) {
	p.t.Helper()
	p.run(what, chromedp.Evaluate(expr, out))
}

// click presses the button whose text is label inside the element sel.
func (p *page) click(sel, label string) {
	p.t.Helper()
	var ok bool
	p.eval("click "+label, fmt.Sprintf(`(() => { const b = [...document.querySelectorAll(%q)].find(b => b.textContent.trim() === %q); if (b) b.click(); return !!b; })()`, sel+" button", label), &ok)
	if !ok {
		p.t.Fatalf("no button %q in %s", label, sel)
	}
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	var buf []byte
	p.run("screenshot "+name, chromedp.FullScreenshot(&buf, 100))
	p.n++
	if err := os.WriteFile(filepath.Join(p.shots, fmt.Sprintf("%02d-%s.png", p.n, name)), buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// uploadHold pauses the browser's TUS PATCH requests after the first one (the Fetch
// domain), so the test can reload the page while an upload is provably under way without
// depending on how fast bytes move.
type uploadHold struct {
	mu      sync.Mutex
	patches int
	held    chan struct{}
}

func (h *uploadHold) listen(ctx context.Context) {
	chromedp.ListenTarget(ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		h.mu.Lock()
		if e.Request.Method == http.MethodPatch {
			h.patches++
		}
		hold := e.Request.Method == http.MethodPatch && h.patches == 2
		h.mu.Unlock()
		if hold {
			close(h.held) // the first chunk is stored; the second waits until the reload
			return
		}
		go func() {
			c := chromedp.FromContext(ctx)
			_ = fetch.ContinueRequest(e.RequestID).Do(cdp.WithExecutor(ctx, c.Target))
		}()
	})
}

func pngImage(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleInChromium(t *testing.T) {
	testConsole(t, harness.Options{})
}

// TestConsoleInChromiumMultiTenant runs the same steps against a tenant of a multi-tenant
// Stowage (harness.Options.MultiTenant: the browser reaches the harness proxy, which names
// the tenant in X-Forwarded-Host): the console is served on the tenant's stack and calls
// that tenant's API. Its S3 page names the tenant and the admin API's credentials instead
// of a server key, and it has no storage report (docs/console.md).
func TestConsoleInChromiumMultiTenant(t *testing.T) {
	testConsole(t, harness.Options{MultiTenant: true})
}

func testConsole(t *testing.T, opts harness.Options) {
	if testing.Short() {
		t.Skip("drives a browser through a 30 MiB upload")
	}
	opts.Env = map[string]string{"STOWAGE_CONSOLE": "true", "LOG_LEVEL": "warn"}
	srv := harness.Start(t, opts)
	shots, err := os.MkdirTemp("", "stowage-console-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	files := t.TempDir()
	const size = 30 << 20
	big := filepath.Join(files, "big.bin")
	data := make([]byte, size)
	rand.New(rand.NewSource(18)).Read(data)
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	pic := filepath.Join(files, "pic.png")
	pngImage(t, pic, 800, 600)

	ctx := browser(t)
	p := &page{t: t, ctx: ctx, shots: shots}

	// Sign in with the service key.
	p.run("open the console", chromedp.Navigate(srv.URL+"/console/"))
	p.wait("the sign-in form", `!!document.querySelector("#key")`)
	p.screenshot("sign-in")
	p.run("sign in", chromedp.SendKeys("#key", srv.ServiceKey, chromedp.ByID), chromedp.Click("#signin", chromedp.ByID))
	p.wait("the bucket list", `!!document.querySelector("#buckets")`)

	// Create a bucket.
	p.run("fill the bucket form", chromedp.SendKeys("#new-name", "e2e", chromedp.ByID), chromedp.SendKeys("#new-limit", "100MB", chromedp.ByID),
		chromedp.Click("#new-submit", chromedp.ByID))
	p.wait("the new bucket", `!!document.querySelector('tr[data-bucket="e2e"]')`)
	p.screenshot("buckets")
	p.run("open the bucket", chromedp.Click(`tr[data-bucket="e2e"] a`, chromedp.ByQuery))
	p.wait("the upload zone", `!!document.querySelector("#dropzone")`)

	// Upload 30 MiB; the second chunk is held so the page is reloaded mid-upload.
	hold := &uploadHold{held: make(chan struct{})}
	hold.listen(ctx)
	p.run("intercept uploads", fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/upload/resumable/*"}}))
	p.run("choose the big file", chromedp.SetUploadFiles("#files", []string{big}, chromedp.ByID))
	select {
	case <-hold.held:
	case <-time.After(hangGuard):
		t.Fatal("the console never sent a second chunk")
	}
	p.wait("the progress bar after the first chunk", `(() => { const b = document.querySelector('li[data-key="big.bin"] progress'); return b && b.value > 0; })()`)
	var progress []float64
	p.eval("read the progress bar", `(() => { const b = document.querySelector('li[data-key="big.bin"] progress'); return [b.value, b.max]; })()`, &progress)
	if len(progress) != 2 || progress[0] <= 0 || progress[0] >= progress[1] || progress[1] != size {
		t.Fatalf("progress bar mid-upload = %v, want 0 < value < max = %d", progress, size)
	}
	p.screenshot("upload-in-progress")
	p.run("reload mid-upload", chromedp.Reload())
	p.run("stop intercepting", fetch.Disable())
	p.wait("the interrupted upload listed after the reload", `!!document.querySelector('li.pending[data-key="big.bin"]')`)
	p.screenshot("upload-interrupted")
	p.run("choose the same file again", chromedp.SetUploadFiles("#files", []string{big}, chromedp.ByID))
	p.wait("the upload to finish", `(() => { const li = document.querySelector('#uploads li[data-key="big.bin"]:not(.pending)'); if (li && li.dataset.state === "failed") throw new Error(li.textContent); return li && li.dataset.state === "done"; })()`)
	var resumedAt string
	p.eval("read the resume offset", `document.querySelector('#uploads li[data-key="big.bin"]').dataset.resumedAt || ""`, &resumedAt)
	if resumedAt == "" || resumedAt == "0" {
		t.Fatalf("the upload started over instead of resuming (resumed at %q)", resumedAt)
	}
	t.Logf("resumed at byte %s of %d", resumedAt, size)
	p.wait("the big file listed", `!!document.querySelector('tr[data-key="big.bin"]')`)
	p.screenshot("uploaded")

	// Drop an image on the zone (HTML5 drag and drop with a file), then preview it.
	var box []float64
	p.eval("locate the drop zone", `(() => { const r = document.querySelector("#dropzone").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`, &box)
	drag := &input.DragData{Files: []string{pic}, DragOperationsMask: 1, Items: []*input.DragDataItem{}}
	p.run("drop the image", input.DispatchDragEvent(input.DragEnter, box[0], box[1], drag),
		input.DispatchDragEvent(input.DragOver, box[0], box[1], drag), input.DispatchDragEvent(input.Drop, box[0], box[1], drag))
	p.wait("the image upload", `(() => { const li = document.querySelector('#uploads li[data-key="pic.png"]'); return li && li.dataset.state === "done"; })()`)
	p.wait("the image listed", `!!document.querySelector('tr[data-key="pic.png"]')`)
	p.click(`tr[data-key="pic.png"]`, "Details")
	p.wait("the response headers", `(document.querySelector("#headers") || {textContent: ""}).textContent.includes("etag")`)
	p.wait("the preview", `(() => { const i = document.querySelector("#preview"); return i && i.dataset.width; })()`)
	var dims []int
	p.eval("read the preview size", `[+document.querySelector("#preview").dataset.width, +document.querySelector("#preview").dataset.height]`, &dims)
	if len(dims) != 2 || dims[0] != 300 || dims[1] != 225 {
		t.Fatalf("preview is %v, want the 800x600 original rendered at 300x225", dims)
	}
	p.screenshot("preview")

	// Move the image into a folder, open the folder, search by prefix.
	p.click(`tr[data-key="pic.png"]`, "Move")
	p.run("move the image", chromedp.SetValue("#move-to", "img/pic.png", chromedp.ByID), chromedp.Click("#move-submit", chromedp.ByID))
	p.wait("the folder", `!document.querySelector('tr[data-key="pic.png"]') && [...document.querySelectorAll("tr.folder a")].some(a => a.textContent.includes("img/"))`)
	p.run("open the folder", chromedp.Evaluate(`[...document.querySelectorAll("tr.folder a")].find(a => a.textContent.includes("img/")).click()`, nil))
	p.wait("the moved image", `!!document.querySelector('tr[data-key="img/pic.png"]')`)
	p.run("search a prefix nothing has", chromedp.SendKeys("#search", "zz", chromedp.ByID))
	p.wait("an empty result", `!document.querySelector('tr[data-key="img/pic.png"]')`)
	p.screenshot("folder-search")
	p.run("back to the bucket", chromedp.Navigate(srv.URL+"/console/#/b/e2e/"))
	p.wait("the bucket root", `!!document.querySelector('tr[data-key="big.bin"]')`)

	// Copy a signed URL of the big file and fetch it outside the browser.
	p.click(`tr[data-key="big.bin"]`, "Copy URL")
	p.wait("the share form", `!!document.querySelector("#copy-signed")`)
	p.run("copy the signed URL", chromedp.Click("#copy-signed", chromedp.ByID))
	p.wait("the signed URL", `document.querySelector("#share-url").value.includes("token=")`)
	var signed string
	p.eval("read the signed URL", `document.querySelector("#share-url").value`, &signed)
	p.screenshot("signed-url")
	resp, err := http.Get(signed)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != size || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("signed URL %s: status %d, %d bytes, err %v, same bytes %v", signed, resp.StatusCode, n, err, bytes.Equal(h.Sum(nil), want[:]))
	}

	// Delete (the button asks for a second press).
	p.click(`tr[data-key="big.bin"]`, "Delete")
	p.click(`tr[data-key="big.bin"]`, "Confirm delete?")
	p.wait("the big file gone", `!document.querySelector('tr[data-key="big.bin"]') && document.querySelector("#status").textContent.startsWith("Deleted")`)
	harness.MustStatus(t, harness.Do(t, "GET", srv.URL+"/object/authenticated/e2e/big.bin", srv.ServiceKey, nil, 0, nil), 400)
	p.screenshot("deleted")

	// Edit the bucket: make it public.
	p.run("open the bucket list", chromedp.Navigate(srv.URL+"/console/#/buckets"))
	p.wait("the bucket list", `!!document.querySelector('tr[data-bucket="e2e"]')`)
	p.click(`tr[data-bucket="e2e"]`, "Edit")
	p.run("make it public", chromedp.Click("#edit-public", chromedp.ByID), chromedp.Click("#edit-submit", chromedp.ByID))
	p.wait("the bucket shown public", `(document.querySelector('tr[data-bucket="e2e"]') || {textContent: ""}).textContent.includes("public")`)
	if b := harness.MustStatus(t, harness.Do(t, "GET", srv.URL+"/bucket/e2e", srv.ServiceKey, nil, 0, nil), 200); !strings.Contains(string(b), `"public":true`) {
		t.Fatalf("bucket after the edit: %s", b)
	}

	// The gateway's metrics (in multi-tenant mode too: the front app observes every request).
	metrics := string(harness.MustStatus(t, harness.Do(t, "GET", srv.URL+"/metrics", "", nil, 0, nil), 200))
	for _, want := range []string{`stowage_render_cache_requests_total{result="miss"} 1`, `dialect="tus"`, `dialect="console"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	p.run("open the S3 page", chromedp.Navigate(srv.URL+"/console/#/s3"))
	p.wait("the S3 page", `!!document.querySelector("#s3-info")`)
	p.screenshot("s3-access")
	var s3Info string
	p.eval("read the S3 page", `document.querySelector("#s3-info").textContent`, &s3Info)
	if srv.MultiTenant {
		// No server-wide key: the tenant's credentials come from the admin API.
		if !strings.Contains(s3Info, harness.MultiTenantID) || !strings.Contains(s3Info, "POST /s3/"+harness.MultiTenantID+"/credentials") ||
			strings.Contains(s3Info, harness.S3AccessKeyID) {
			t.Errorf("tenant's S3 page: %q", s3Info)
		}
		// No storage report for a tenant: the link is hidden and the page says why.
		var linkHidden bool
		p.eval("the report link", `document.querySelector("#nav-report").hidden`, &linkHidden)
		if !linkHidden {
			t.Error("a tenant's console links to the storage report")
		}
		p.run("open the report", chromedp.Navigate(srv.URL+"/console/report"))
		p.wait("the report's refusal", `(document.querySelector("#report-body .err") || {textContent: ""}).textContent.includes("multi-tenant mode")`)
		p.screenshot("report-refused")
		harness.MustStatus(t, harness.Do(t, "GET", srv.URL+"/console/api/report", srv.ServiceKey, nil, 0, nil), 501)
		return
	}
	if !strings.Contains(s3Info, harness.S3AccessKeyID) {
		t.Errorf("S3 page lacks the access key id: %q", s3Info)
	}

	// The report shows the traffic above.
	p.run("open the report", chromedp.Navigate(srv.URL+"/console/report"))
	p.wait("the report", `!!document.querySelector("#stat-requests")`)
	var requests, egress, topObject string
	p.eval("read the report", `document.querySelector("#stat-requests b").textContent`, &requests)
	p.eval("read the egress", `document.querySelector("#stat-egress b").textContent`, &egress)
	p.eval("read the top objects", `(document.querySelector("#top-objects tbody tr td") || {}).textContent || ""`, &topObject)
	p.screenshot("report")
	if requests == "0" || requests == "" || egress == "0 B" || egress == "" {
		t.Fatalf("report shows %s requests and %s egress after the traffic above", requests, egress)
	}
	if topObject != "e2e/big.bin" {
		t.Errorf("top object by egress = %q, want e2e/big.bin (downloaded once through the signed URL)", topObject)
	}
	t.Logf("report: %s requests, %s egress", requests, egress)
}
