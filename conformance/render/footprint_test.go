package render

import (
	"bufio"
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stowage/stowage/conformance/harness"
)

// footprint is what /proc says about a process's memory.
type footprint struct {
	rssKiB, pssKiB, anonKiB, fileKiB int64
	libs                             int  // distinct shared objects mapped
	libvips                          bool // libvips among them
}

func (f footprint) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB, PSS %.1f MiB (anon %.1f, file %.1f), %d shared libraries",
		float64(f.rssKiB)/1024, float64(f.pssKiB)/1024, float64(f.anonKiB)/1024, float64(f.fileKiB)/1024, f.libs)
}

func readFootprint(t *testing.T, pid int) footprint {
	t.Helper()
	var f footprint
	fields := func(file string, want map[string]*int64) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			if p := want[k]; p != nil {
				*p, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	fields("status", map[string]*int64{"VmRSS": &f.rssKiB})
	fields("smaps_rollup", map[string]*int64{"Pss": &f.pssKiB, "Pss_Anon": &f.anonKiB, "Pss_File": &f.fileKiB})
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(maps), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 || !strings.Contains(fs[5], ".so") || seen[fs[5]] {
			continue
		}
		seen[fs[5]] = true
		f.libs++
		f.libvips = f.libvips || strings.Contains(fs[5], "/libvips.so")
	}
	return f
}

// TestFootprint: the libvips build maps no libvips until the first render (the server
// dlopens it then), and renders after that. It logs VmRSS and PSS at idle and after one
// render (docs/footprint.md); sizes are reported, not asserted.
func TestFootprint(t *testing.T) {
	if reason := buildsWithoutVips(t); reason != "" {
		t.Skipf("the stowage binary is built without libvips (%s)", reason)
	}
	srv := harness.Start(t, harness.Options{})
	// Serve a few requests that are not renders: none may load libvips.
	harness.MustStatus(t, harness.Do(t, http.MethodPost, srv.URL+"/bucket", srv.ServiceKey,
		strings.NewReader(`{"name":"fp","public":true}`), -1, map[string]string{"Content-Type": "application/json"}), http.StatusOK)
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(800, 600)); err != nil {
		t.Fatal(err)
	}
	harness.MustStatus(t, harness.Do(t, http.MethodPost, srv.URL+"/object/fp/src.png", srv.ServiceKey,
		bytes.NewReader(buf.Bytes()), int64(buf.Len()), map[string]string{"Content-Type": "image/png"}), http.StatusOK)
	harness.MustStatus(t, harness.Do(t, http.MethodGet, srv.URL+"/object/public/fp/src.png", "", nil, 0, nil), http.StatusOK)
	idle := readFootprint(t, srv.PID())
	if idle.libvips {
		t.Fatalf("libvips is mapped before any render: %v", idle)
	}
	harness.MustStatus(t, harness.Do(t, http.MethodGet, srv.URL+"/render/image/public/fp/src.png?width=200&format=origin", "", nil, 0, nil), http.StatusOK)
	after := readFootprint(t, srv.PID())
	if !after.libvips {
		t.Fatalf("a render answered 200 but libvips is not mapped: %v", after)
	}
	t.Logf("stowage before any render: %v", idle)
	t.Logf("stowage after one render:  %v", after)
}

// TestLibvipsMissing: a libvips build started where the library cannot be loaded
// (STOWAGE_LIBVIPS names a missing one) answers renders FeatureNotEnabled, as the
// reference does without transformations, and serves everything else.
func TestLibvipsMissing(t *testing.T) {
	if reason := buildsWithoutVips(t); reason != "" {
		t.Skipf("the stowage binary is built without libvips (%s)", reason)
	}
	srv := harness.Start(t, harness.Options{Env: map[string]string{"STOWAGE_LIBVIPS": "libvips-missing.so.42"}})
	harness.MustStatus(t, harness.Do(t, http.MethodPost, srv.URL+"/bucket", srv.ServiceKey,
		strings.NewReader(`{"name":"nv","public":true}`), -1, map[string]string{"Content-Type": "application/json"}), http.StatusOK)
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(40, 30)); err != nil {
		t.Fatal(err)
	}
	harness.MustStatus(t, harness.Do(t, http.MethodPost, srv.URL+"/object/nv/src.png", srv.ServiceKey,
		bytes.NewReader(buf.Bytes()), int64(buf.Len()), map[string]string{"Content-Type": "image/png"}), http.StatusOK)
	for range 2 { // the first request tries to load libvips, the second finds it failed
		body := harness.MustStatus(t, harness.Do(t, http.MethodGet, srv.URL+"/render/image/public/nv/src.png?width=20", "", nil, 0, nil), http.StatusForbidden)
		if !bytes.Contains(body, []byte(`"FeatureNotEnabled"`)) {
			t.Fatalf("render without libvips answered %s", body)
		}
	}
	got := harness.MustStatus(t, harness.Do(t, http.MethodGet, srv.URL+"/object/public/nv/src.png", "", nil, 0, nil), http.StatusOK)
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatal("download without libvips returned other bytes")
	}
	if f := readFootprint(t, srv.PID()); f.libvips {
		t.Fatalf("libvips mapped although STOWAGE_LIBVIPS names a missing library: %v", f)
	}
	if !strings.Contains(srv.Output(), "image transformations unavailable") {
		t.Errorf("no warning logged about the missing libvips:\n%s", srv.Output())
	}
}
