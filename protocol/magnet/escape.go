package magnet

import "strings"

// unescape decodes a magnet value as gtkg does (plus_to_space, then
// url_unescape): '+' is a space, %XX a byte; %00, a bad or cut escape make
// the whole value unreadable.
func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '+') < 0 && strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	return decode(s, true)
}

// unescapePath decodes %XX escapes only ('+' stays), for a /get/ name.
func unescapePath(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	return decode(s, false)
}

func decode(s string, plus bool) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plus:
			c = ' '
		case c == '%':
			if i+2 >= len(s) {
				return "", false
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 || h == 0 && l == 0 {
				return "", false
			}
			c = h<<4 | l
			i += 2
		}
		b = append(b, c)
	}
	return string(b), true
}

// queryTransparent is gtkg's url.c is_transparent[] with QUERY_MASK: the
// bytes url_escape_query leaves alone. Everything else is written %XX.
var queryTransparent = func() (t [256]bool) {
	for _, c := range []byte("$()*,-./:_") {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
		t[c+'a'-'A'] = true
	}
	return t
}()

func appendEscaped[T string | []byte](dst []byte, s T) []byte {
	const hex = "0123456789ABCDEF" // gtkg hex_alphabet
	for i := 0; i < len(s); i++ {
		c := s[i]
		if queryTransparent[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}
