package client

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
)

// minGzipSize is the minified (esbuild) and gzipped size of client.js.
func minGzipSize(t testing.TB) (min, gz int) {
	t.Helper()
	res := api.Transform(string(JS), api.TransformOptions{
		Loader:            api.LoaderJS,
		Format:            api.FormatESModule,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
	})
	if len(res.Errors) > 0 {
		t.Fatalf("esbuild: %v", res.Errors[0].Text)
	}
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(res.Code)
	w.Close()
	return len(res.Code), b.Len()
}

// TestSize guards the promise that the client stays small. The budget
// was 3 KB; applying and checking patches (226) added ~450 bytes, which a
// client polling a 100 KB snapshot earns back on its second poll.
func TestSize(t *testing.T) {
	min, gz := minGzipSize(t)
	t.Logf("client.js: %d bytes, %d minified, %d minified+gzipped", len(JS), min, gz)
	if gz >= 3584 {
		t.Errorf("client.js is %d bytes minified+gzipped, want < 3584", gz)
	}
}

// TestEmbedded checks the embedded module exports the documented API.
func TestEmbedded(t *testing.T) {
	for _, name := range []string{"watch", "interpolate", "frame", "animate", "post", "put", "connectDev", "splice"} {
		if !bytes.Contains(JS, []byte("export function "+name)) && !bytes.Contains(JS, []byte("export const "+name)) {
			t.Errorf("client.js does not export %s", name)
		}
		if !bytes.Contains(DTS, []byte("export function "+name)) {
			t.Errorf("client.d.ts does not declare %s", name)
		}
	}
}
