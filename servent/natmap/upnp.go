package natmap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// SSDPGroup is where UPnP discovery is sent (UPnP Device Architecture
// 1.1, 1.3.2); nothing else is sent anywhere but the gateway.
var SSDPGroup = netip.MustParseAddrPort("239.255.255.250:1900")

const (
	ssdpWait      = 2 * time.Second
	maxSSDPAnswer = 2048
	igdTarget     = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
)

// noRedirect keeps every UPnP request on the gateway: a redirect from the
// router is an answer, not a new address to contact.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func init() {
	// goupnp fetches device descriptions with this client; ours does not
	// follow redirects (see noRedirect).
	goupnp.HTTPClientDefault = &http.Client{CheckRedirect: noRedirect, Timeout: 10 * time.Second}
}

// ssdpLocation reads an SSDP answer and returns its LOCATION.
func ssdpLocation(b []byte) (*url.URL, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, fmt.Errorf("ssdp answer: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("ssdp answer: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme != "http" || loc.Host == "" {
		return nil, errors.New("ssdp answer: no usable LOCATION")
	}
	return loc, nil
}

// onGateway reports whether u points at the gateway itself.
func onGateway(u *url.URL, gateway netip.Addr) bool {
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && ip.Unmap() == gateway
}

// discoverIGD sends one M-SEARCH to target and takes the first answer
// whose LOCATION is on the gateway.
func discoverIGD(ctx context.Context, target netip.AddrPort, gateway netip.Addr) (*url.URL, error) {
	pc, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return nil, fmt.Errorf("upnp: %w", err)
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Now()) })
	defer stop()
	req := "M-SEARCH * HTTP/1.1\r\nHOST: " + SSDPGroup.String() + "\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: " + igdTarget + "\r\n\r\n"
	if _, err := pc.WriteToUDPAddrPort([]byte(req), target); err != nil {
		return nil, fmt.Errorf("upnp: discovery: %w", err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(ssdpWait))
	buf := make([]byte, maxSSDPAnswer)
	for {
		k, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, errors.New("upnp: no Internet gateway answered the discovery")
		}
		loc, err := ssdpLocation(buf[:k])
		if err != nil || !onGateway(loc, gateway) || from.Addr().Unmap() != gateway {
			continue // not our gateway: never contacted
		}
		return loc, nil
	}
}

// igdClient is what the three WAN connection services share.
type igdClient interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, client string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
}

// upnpRouter maps ports with one WAN connection service of an IGD.
type upnpRouter struct {
	gateway netip.Addr
	service string // e.g. "WANIPConnection:1"
	client  igdClient
	local   netip.Addr // our address on the LAN, the mapping's target
}

func (r *upnpRouter) Protocol() string { return "upnp" }
func (r *upnpRouter) Name() string     { return r.gateway.String() + " " + r.service }

// openIGD reads the device description at loc and picks its first WAN
// connection service whose control URL is on the gateway.
func openIGD(ctx context.Context, loc *url.URL, gateway, local netip.Addr) (*upnpRouter, error) {
	root, err := goupnp.DeviceByURLCtx(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("upnp: device description at %s: %w", loc, err)
	}
	pick := func(name string, sc []goupnp.ServiceClient, clients []igdClient) *upnpRouter {
		for i, c := range sc {
			if onGateway(&c.SOAPClient.EndpointURL, gateway) {
				c.SOAPClient.HTTPClient.CheckRedirect = noRedirect
				return &upnpRouter{gateway: gateway, service: name, client: clients[i], local: local}
			}
		}
		return nil
	}
	if cs, err := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, loc); err == nil {
		sc, ic := split(cs, func(c *internetgateway2.WANIPConnection2) (goupnp.ServiceClient, igdClient) {
			return c.ServiceClient, c
		})
		if r := pick("WANIPConnection:2", sc, ic); r != nil {
			return r, nil
		}
	}
	if cs, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc); err == nil {
		sc, ic := split(cs, func(c *internetgateway2.WANIPConnection1) (goupnp.ServiceClient, igdClient) {
			return c.ServiceClient, c
		})
		if r := pick("WANIPConnection:1", sc, ic); r != nil {
			return r, nil
		}
	}
	if cs, err := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, loc); err == nil {
		sc, ic := split(cs, func(c *internetgateway2.WANPPPConnection1) (goupnp.ServiceClient, igdClient) {
			return c.ServiceClient, c
		})
		if r := pick("WANPPPConnection:1", sc, ic); r != nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("upnp: %s offers no WAN connection service on the gateway", loc)
}

func split[T any](cs []T, f func(T) (goupnp.ServiceClient, igdClient)) ([]goupnp.ServiceClient, []igdClient) {
	sc, ic := make([]goupnp.ServiceClient, len(cs)), make([]igdClient, len(cs))
	for i, c := range cs {
		sc[i], ic[i] = f(c)
	}
	return sc, ic
}

// upnpErrorWords are the UPnP IGD error codes a router gives, in words
// (WANIPConnection:2 service description, 2.4).
var upnpErrorWords = map[int]string{
	402: "Invalid Args",
	501: "Action Failed",
	606: "Action not authorized (UPnP port mapping is turned off or restricted on the router)",
	714: "NoSuchEntryInArray",
	715: "WildCardNotPermittedInSrcIP",
	716: "WildCardNotPermittedInExtPort",
	718: "ConflictInMappingEntry (another machine already has this port mapped)",
	724: "SamePortValuesRequired",
	725: "OnlyPermanentLeasesSupported",
	726: "RemoteHostOnlySupportsWildcard",
	727: "ExternalPortOnlySupportsWildcard",
	728: "NoPortMapsAvailable (the router's mapping table is full)",
}

// upnpCode is the UPnP error code in err, 0 if none.
func upnpCode(err error) int {
	var f *soap.SOAPFaultError
	if errors.As(err, &f) {
		return f.Detail.UPnPError.Errorcode
	}
	return 0
}

// upnpError says what went wrong in words.
func (r *upnpRouter) upnpError(what string, err error) error {
	if code := upnpCode(err); code != 0 {
		words, ok := upnpErrorWords[code]
		if !ok {
			words = "error"
		}
		return fmt.Errorf("upnp: router %s refused %s: %d %s", r.gateway, what, code, words)
	}
	return fmt.Errorf("upnp: router %s: %s: %w", r.gateway, what, err)
}

func (r *upnpRouter) ExternalIP(ctx context.Context) (netip.Addr, error) {
	s, err := r.client.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, r.upnpError("the external address", err)
	}
	return parseExternalIP(s)
}

// parseExternalIP reads the router's answer to GetExternalIPAddress.
func parseExternalIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Unmap().Is4() || ip.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("upnp: the router gave no usable external address (%q)", truncate(s, 64))
	}
	return ip.Unmap(), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// upnpDescription names our mappings in the router's table.
const upnpDescription = "servent (Gnutella)"

func (r *upnpRouter) Map(ctx context.Context, proto string, internal, external uint16, lease time.Duration) (uint16, time.Duration, error) {
	secs := uint32(lease / time.Second)
	err := r.client.AddPortMappingCtx(ctx, "", external, proto, internal, r.local.String(), true, upnpDescription, secs)
	if upnpCode(err) == 725 && secs != 0 { // only permanent leases: take one, removed at shutdown
		secs, lease = 0, 0
		err = r.client.AddPortMappingCtx(ctx, "", external, proto, internal, r.local.String(), true, upnpDescription, 0)
	}
	if err != nil {
		return 0, 0, r.upnpError(proto+" port "+strconv.Itoa(int(external)), err)
	}
	return external, lease, nil
}

func (r *upnpRouter) Unmap(ctx context.Context, proto string, _, external uint16) error {
	if err := r.client.DeletePortMappingCtx(ctx, "", external, proto); err != nil {
		return r.upnpError("removing "+proto+" port "+strconv.Itoa(int(external)), err)
	}
	return nil
}
