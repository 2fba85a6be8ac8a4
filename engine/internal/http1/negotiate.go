package http1

// This file implements the two header negotiations a read needs:
// If-None-Match (RFC 9110 §13.1.2) and Accept-Encoding (§12.5.3).

import "bytes"

func noneMatch(inm, etag []byte) bool {
	want := opaque(etag)
	list := inm
	for {
		list = trimOWS(list)
		if len(list) == 0 {
			return true
		}
		if list[0] == '*' {
			return false
		}
		// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
		if len(list) >= 2 && list[0] == 'W' && list[1] == '/' {
			list = list[2:]
		}
		if len(list) == 0 || list[0] != '"' {
			return true // malformed: ignore the field (answer in full)
		}
		end := bytes.IndexByte(list[1:], '"')
		if end < 0 {
			return true
		}
		tag := list[:end+2]
		if want != nil && bytes.Equal(tag, want) {
			return false
		}
		list = trimOWS(list[end+2:])
		if len(list) == 0 {
			return true
		}
		if list[0] != ',' {
			return true
		}
		list = list[1:]
	}
}

// opaque strips a weak prefix, leaving the quoted opaque-tag; nil when etag
// is not a well-formed entity-tag.
func opaque(etag []byte) []byte {
	if len(etag) >= 2 && etag[0] == 'W' && etag[1] == '/' {
		etag = etag[2:]
	}
	if len(etag) < 2 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		return nil
	}
	return etag
}

func negotiate(ae []byte, haveGzip, haveBr bool) Encoding {
	// q-values in thousandths; -1 when the coding is not listed.
	gz, br, id, star := -1, -1, -1, -1
	for e, list := nextElem(ae); e != nil; e, list = nextElem(list) {
		name, q := e, 1000
		if semi := bytes.IndexByte(e, ';'); semi >= 0 {
			name = trimOWS(e[:semi])
			var ok bool
			if q, ok = qvalue(e[semi+1:]); !ok {
				continue
			}
		}
		switch {
		case equalFold(name, "gzip") || equalFold(name, "x-gzip"):
			gz = max(gz, q)
		case equalFold(name, "br"):
			br = max(br, q)
		case equalFold(name, "identity"):
			id = max(id, q)
		case len(name) == 1 && name[0] == '*':
			star = max(star, q)
		}
	}
	if gz < 0 {
		gz = max(star, 0)
	}
	if br < 0 {
		br = max(star, 0)
	}
	if id < 0 {
		// identity is acceptable unless refused (RFC 9110 §12.5.3), but a
		// listed coding is preferred over it.
		id = 1
		if star == 0 {
			id = 0
		}
	}
	if !haveGzip {
		gz = 0
	}
	if !haveBr {
		br = 0
	}
	switch {
	case br > 0 && br >= gz && br >= id:
		return EncBrotli
	case gz > 0 && gz >= id:
		return EncGzip
	case id > 0:
		return EncIdentity
	}
	return EncNone
}

// qvalue parses the parameters after a coding: OWS "q=" ("0" ["." 0*3DIGIT]
// / "1" ["." 0*3"0"]), in thousandths.
func qvalue(params []byte) (int, bool) {
	p := trimOWS(params)
	if len(p) < 3 || lower(p[0]) != 'q' || p[1] != '=' {
		return 0, false
	}
	v := p[2:]
	if v[0] != '0' && v[0] != '1' {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q, true
	}
	if v[1] != '.' || len(v) > 5 {
		return 0, false
	}
	scale := 100
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

func hasToken(list []byte, token string) bool {
	for e, rest := nextElem(list); e != nil; e, rest = nextElem(rest) {
		name, q := e, 1000
		if semi := bytes.IndexByte(e, ';'); semi >= 0 {
			name = trimOWS(e[:semi])
			var ok bool
			if q, ok = qvalue(e[semi+1:]); !ok {
				continue
			}
		}
		if q > 0 && equalFold(name, token) {
			return true
		}
	}
	return false
}
