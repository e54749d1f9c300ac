package tus

import (
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// unicodeNames are object names in several scripts plus the punctuation S3 accepts; TUS
// carries them base64-encoded in Upload-Metadata, so every one must round-trip.
var unicodeNames = []string{
	"café/naïve résumé.txt",
	"日本語/ファイル.txt",
	"Screenshot 2024-01-01 at 10.00.00\u202fAM.png",
	`100%_[a]{b}^~"q"<x>|y\z#.txt`,
	"Русский/файл?.txt",
	"emoji 😀/🎉.txt",
}

// TestTusJSClientUnicodeNames uploads one file per name with tus-js-client in 64 KiB
// chunks (kept as tails upstream on the S3 store), then downloads each and lists them.
func TestTusJSClientUnicodeNames(t *testing.T) {
	harness.ForEachBackend(t, func(t *testing.T, backend string) {
		d := harness.CallerDir(t)
		harness.NodeModules(t, d, "tus-js-client")
		srv := harness.Start(t, harness.Options{DatabaseURL: pgtest.URL(t), Backend: backend})
		createBucket(t, srv, "tusu")
		file := randomFile(t, 200<<10)
		for _, name := range unicodeNames {
			var done struct{ Done bool }
			node(t, d, map[string]string{"MODE": "full", "KEY": srv.ServiceKey, "BUCKET": "tusu", "CHUNK_SIZE": "65536",
				"ENDPOINT": srv.URL + "/upload/resumable", "OBJECT": name, "FILE": file}, &done)
			if !done.Done {
				t.Fatalf("%q: tus-js-client did not report success", name)
			}
			segs := strings.Split(name, "/")
			for i, s := range segs {
				segs[i] = url.PathEscape(s)
			}
			sameBytes(t, srv, "tusu", strings.Join(segs, "/"), file)
		}
		resp := harness.Do(t, "POST", srv.URL+"/object/list-v2/tusu", srv.ServiceKey, strings.NewReader(`{"limit":100}`), -1,
			map[string]string{"Content-Type": "application/json"})
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var page struct{ Objects []struct{ Name string } }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("list-v2: %v: %s", err, body)
		}
		var got []string
		for _, o := range page.Objects {
			got = append(got, o.Name)
		}
		want := slices.Clone(unicodeNames)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("list-v2 names\n got %q\nwant %q", got, want)
		}
	})
}
