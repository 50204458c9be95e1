package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/servent/servent/internal/atomicfile"
)

// File names in the data folder.
const (
	KeyFileName  = "api-key"  // the key, hex, mode 0600
	InfoFileName = "api.json" // where the API of the running servent listens
)

// Info is the content of the address file.
type Info struct {
	Addr string `json:"addr"` // host:port a client dials
	PID  int    `json:"pid"`
}

// LoadOrCreateKey returns the key stored in dataDir, creating it (32 random
// bytes, hex) when missing or unreadable as a key. The key survives restarts,
// so scripts that copied it keep working; delete the file to rotate it.
func LoadOrCreateKey(dataDir string) (key, path string, err error) {
	path = filepath.Join(dataDir, KeyFileName)
	if b, err := atomicfile.Read(path, maxSmallFile); err == nil {
		if k, ok := parseKey(b); ok {
			// Tighten a key file someone loosened.
			if err := os.Chmod(path, 0o600); err != nil {
				return "", "", fmt.Errorf("API key file: %w", err)
			}
			return k, path, nil
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("generating API key: %w", err)
	}
	key = hex.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", fmt.Errorf("data folder: %w", err)
	}
	if err := atomicfile.Write(path, []byte(key+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("writing API key: %w", err)
	}
	return key, path, nil
}

// maxSmallFile bounds what is read of api.json and api-key: a line each.
const maxSmallFile = 4 << 10

// parseKey reads the key file's content: the key, surrounding space
// ignored. ok is false when it is no key we would accept.
func parseKey(b []byte) (key string, ok bool) {
	k := strings.TrimSpace(string(b))
	return k, validKey(k)
}

// validKey: printable ASCII without spaces (it travels in a header), long
// enough not to be guessed.
func validKey(k string) bool {
	if len(k) < 32 || len(k) > 256 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// WriteInfo writes the address file into dataDir and returns its path.
func WriteInfo(dataDir string, info Info) (string, error) {
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("data folder: %w", err)
	}
	b, err := json.Marshal(info)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, InfoFileName)
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("writing API address file: %w", err)
	}
	return path, nil
}

// RemoveInfo deletes the address file at path.
func RemoveInfo(path string) { os.Remove(path) }

// Discover finds the address and key of the servent whose data folder is
// dataDir. The error wraps ErrNoDaemon when no servent announced itself.
func Discover(dataDir string) (addr, key string, err error) {
	infoPath := filepath.Join(dataDir, InfoFileName)
	b, err := atomicfile.Read(infoPath, maxSmallFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", ErrNoDaemon
	}
	if err != nil {
		return "", "", fmt.Errorf("reading API address file: %w", err)
	}
	info, err := parseInfo(b)
	if err != nil {
		return "", "", fmt.Errorf("API address file %s is damaged: %w", infoPath, err)
	}
	keyPath := filepath.Join(dataDir, KeyFileName)
	kb, err := atomicfile.Read(keyPath, maxSmallFile)
	if err != nil {
		return "", "", fmt.Errorf("reading API key: %w", err)
	}
	key, ok := parseKey(kb)
	if !ok {
		return "", "", fmt.Errorf("API key file %s is damaged: start the servent again to replace it", keyPath)
	}
	return info.Addr, key, nil
}

// parseInfo reads the address file's content. The address must be a
// host:port that makes a plain http://host:port URL: a client appends
// paths to it and sends the key there.
func parseInfo(b []byte) (Info, error) {
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, err
	}
	if !validAddr(info.Addr) {
		return Info{}, fmt.Errorf("address %q is not host:port", info.Addr)
	}
	return info, nil
}

// validAddr: an IP address (no zone) or a DNS name, and a port 1-65535.
func validAddr(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if strings.HasPrefix(s, "[") {
		// Brackets hold an IPv6 address only: "[0]:1" is no URL host.
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	if err == nil {
		return ip.Zone() == ""
	}
	for _, c := range []byte(host) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ClientAddr turns a listening address into one a client can dial: an
// unspecified host (0.0.0.0, ::) becomes loopback.
func ClientAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			return net.JoinHostPort("::1", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return listen
}
