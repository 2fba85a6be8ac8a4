package http1

// This file holds the byte-class tables the parser looks every byte up in,
// because one table lookup per byte is both the fastest and the most
// auditable way to say which bytes RFC 9110/9112 allow where.

const (
	classToken  = 1 << iota // tchar (RFC 9110 §5.6.2): method, field names, codings
	classValue              // field-value bytes: VCHAR, obs-text, SP, HTAB
	classTarget             // request-target bytes we accept: VCHAR except '#'
	classHost               // reg-name bytes we accept in Host: ALPHA DIGIT - . _ ~
	classHex                // HEXDIG
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
		if alnum {
			t[c] |= classToken | classHost
		}
		switch b {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			t[c] |= classToken
		}
		switch b {
		case '-', '.', '_', '~':
			t[c] |= classHost
		}
		if b > 0x20 && b < 0x7f || b >= 0x80 || b == ' ' || b == '\t' {
			t[c] |= classValue
		}
		if b > 0x20 && b < 0x7f && b != '#' {
			t[c] |= classTarget
		}
		if b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' {
			t[c] |= classHex
		}
	}
	return t
}()

func isToken(b byte) bool { return byteClass[b]&classToken != 0 }

func unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	default:
		return b - 'A' + 10
	}
}

// lower returns b in ASCII lower case.
func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// the case of b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// trimOWS removes optional whitespace (SP, HTAB) around b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
