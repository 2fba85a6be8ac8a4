package period

import (
	"strings"
	"testing"
)

// TestInjectDevTag: the dev tag goes into the head, never before the
// doctype (which would put the page in quirks mode).
func TestInjectDevTag(t *testing.T) {
	const T = "«TAG»"
	for _, tc := range []struct{ name, in, want string }{
		{"head", "<!doctype html><html><head><title>x</title></head><body></body></html>", "<!doctype html><html><head>" + T + "<title>x</title></head><body></body></html>"},
		{"head with attributes, upper case", "<!DOCTYPE html>\n<HTML lang=en>\n<HEAD data-x=1>\n<title>x</title>", "<!DOCTYPE html>\n<HTML lang=en>\n<HEAD data-x=1>" + T + "\n<title>x</title>"},
		{"header is not head", "<!doctype html><html><body><header>h</header>", "<!doctype html><html>" + T + "<body><header>h</header>"},
		{"no head: after html", "<!doctype html>\n<html lang=\"en\">\n<title>x</title>", "<!doctype html>\n<html lang=\"en\">" + T + "\n<title>x</title>"},
		{"no head, no html: after the doctype", "<!doctype html>\n<title>Scores</title>\n<pre id=s></pre>", "<!doctype html>" + T + "\n<title>Scores</title>\n<pre id=s></pre>"},
		{"comment before the doctype", "<!-- built -->\n<!DOCTYPE html>\n<p>x", "<!-- built -->\n<!DOCTYPE html>" + T + "\n<p>x"},
		{"fragment", "<p>hello</p>", T + "<p>hello</p>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Replace(string(InjectDevTag([]byte(tc.in))), DevTag, T, 1)
			if got != tc.want {
				t.Errorf("InjectDevTag(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}
