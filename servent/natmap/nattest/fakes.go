// Package nattest has a fake UPnP Internet gateway and a fake NAT-PMP
// gateway on loopback, for the tests of natmap and of the node.
package nattest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// IGDTarget is the SSDP search target the fake answers.
const IGDTarget = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"

var nextOctet atomic.Uint32

// LoopbackIP is a fresh 127.0.x.y for one fake router.
func LoopbackIP() netip.Addr {
	n := nextOctet.Add(1)
	return netip.AddrFrom4([4]byte{127, 0, 30 + byte(n>>8), byte(n)})
}

// soapCall is one SOAP action the fake IGD took.
type soapCall struct {
	Action string
	Args   map[string]string
}

// IGD is an Internet gateway on loopback: an SSDP responder and an
// HTTP server with the device description and a WANIPConnection:1
// control endpoint.
type IGD struct {
	IP   netip.Addr
	SSDP netip.AddrPort

	mu          sync.Mutex
	calls       []soapCall
	refuse      map[string]int // action -> UPnP error code
	refuseLease bool           // 725 for any lease but 0
	ssdp        *net.UDPConn
	srv         *http.Server
	ln          net.Listener
}

func StartIGD(t testing.TB) *IGD {
	t.Helper()
	f := &IGD{IP: LoopbackIP(), refuse: map[string]int{}}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(f.IP, 0).String())
	require.NoError(t, err)
	f.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rootDesc.xml", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, rootDesc) })
	mux.HandleFunc("POST /ctl", f.control)
	f.srv = &http.Server{Handler: mux}
	go f.srv.Serve(ln)
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.IP, 0)))
	require.NoError(t, err)
	f.ssdp = pc
	f.SSDP = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if bytes.HasPrefix(buf[:k], []byte("M-SEARCH * HTTP/1.1")) {
				ans := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: " + IGDTarget + "\r\nUSN: uuid:1::" + IGDTarget +
					"\r\nLOCATION: http://" + ln.Addr().String() + "/rootDesc.xml\r\n\r\n"
				_, _ = pc.WriteToUDPAddrPort([]byte(ans), from)
			}
		}
	}()
	t.Cleanup(f.Vanish)
	return f
}

func (f *IGD) SetRefuse(action string, code int, lease bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse[action] = code
	f.refuseLease = lease
}

// Vanish stops answering, as a router that was switched off.
func (f *IGD) Vanish() {
	_ = f.ssdp.Close()
	_ = f.srv.Close()
}

var soapArg = regexp.MustCompile(`<(New[A-Za-z]+)>([^<]*)</New[A-Za-z]+>`)

func (f *IGD) control(w http.ResponseWriter, r *http.Request) {
	action := regexp.MustCompile(`#(\w+)"?$`).FindStringSubmatch(r.Header.Get("SOAPAction"))
	body, _ := io.ReadAll(r.Body)
	call := soapCall{Action: action[1], Args: map[string]string{}}
	for _, m := range soapArg.FindAllSubmatch(body, -1) {
		call.Args[string(m[1])] = string(m[2])
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	code := f.refuse[call.Action]
	if f.refuseLease && call.Action == "AddPortMapping" && call.Args["NewLeaseDuration"] != "0" {
		code = 725
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	if code != 0 {
		w.WriteHeader(500)
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>refused</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code)
		return
	}
	out := ""
	if call.Action == "GetExternalIPAddress" {
		out = "<NewExternalIPAddress>203.0.113.5</NewExternalIPAddress>"
	}
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">%s</u:%sResponse></s:Body></s:Envelope>`, call.Action, out, call.Action)
}

// Actions lists the actions taken with their protocol and lease.
func (f *IGD) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		s := c.Action
		if p := c.Args["NewProtocol"]; p != "" {
			s += " " + p + " " + c.Args["NewExternalPort"]
		}
		if l, ok := c.Args["NewLeaseDuration"]; ok {
			s += " lease " + l
		}
		out = append(out, s)
	}
	return out
}

const rootDesc = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>fake router</friendlyName><UDN>uuid:1</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><UDN>uuid:2</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><UDN>uuid:3</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`

// PMP is a NAT-PMP gateway on loopback.
type PMP struct {
	Addr netip.AddrPort

	mu     sync.Mutex
	reqs   []string
	result uint16 // answered to mapping Requests (0: success)
	pc     *net.UDPConn
}

func StartPMP(t testing.TB) *PMP {
	t.Helper()
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(LoopbackIP(), 0)))
	require.NoError(t, err)
	f := &PMP{Addr: pc.LocalAddr().(*net.UDPAddr).AddrPort(), pc: pc}
	go func() {
		buf := make([]byte, 64)
		for {
			k, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b := buf[:k]
			if len(b) < 2 {
				continue
			}
			f.mu.Lock()
			result := f.result
			var ans []byte
			switch {
			case b[1] == 0:
				f.reqs = append(f.reqs, "external")
				ans = []byte{0, 128, 0, 0, 0, 0, 0, 9, 203, 0, 113, 7}
			case len(b) == 12:
				internal, ext, life := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint32(b[8:])
				f.reqs = append(f.reqs, fmt.Sprintf("map op %d %d->%d life %d", b[1], internal, ext, life))
				ans = make([]byte, 16)
				ans[1] = 128 + b[1]
				binary.BigEndian.PutUint16(ans[2:], result)
				binary.BigEndian.PutUint16(ans[8:], internal)
				binary.BigEndian.PutUint16(ans[10:], ext)
				binary.BigEndian.PutUint32(ans[12:], life)
			}
			f.mu.Unlock()
			if ans != nil {
				_, _ = pc.WriteToUDPAddrPort(ans, from)
			}
		}
	}()
	t.Cleanup(func() { _ = pc.Close() })
	return f
}

func (f *PMP) SetResult(code uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.result = code
}

func (f *PMP) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}
