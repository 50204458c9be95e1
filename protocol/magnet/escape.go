package magnet

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
