package servent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/pushproxy"
	"github.com/servent/servent/servent/transfer"
)

// pushViaProxies asks every push proxy of src at once, over HTTP, to push
// it toward self (GNUTELLA-TRANSFERS.md 25.2); nil as soon as one took it.
// gtk-gnutella tries its proxies one after another; asking them in
// parallel costs a few small requests and saves a timeout per dead proxy.
func (n *Node) pushViaProxies(src transfer.Source, self netip.AddrPort) error {
	if !n.running.Load() {
		return errors.New("servent: push: node not running")
	}
	proxies := src.Proxies[:min(len(src.Proxies), protocol.MaxPushProxies)]
	ctx, cancel := context.WithCancel(n.ctx) // each Push is bounded by pushproxy.ClientTimeout
	defer cancel()
	results := make(chan error, len(proxies)) // buffered: late answers never block
	for _, proxy := range proxies {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			err := pushproxy.Push(ctx, n.cfg.Dial, proxy, src.ServentGUID, src.Index, self, n.cfg.UserAgent)
			n.log.Debug("push via proxy", "proxy", proxy, "guid", src.ServentGUID, "err", err)
			results <- err
		}()
	}
	var first error
	for range proxies {
		err := <-results
		if err == nil {
			n.transfer.proxiedPushes.Add(1)
			return nil
		}
		first = cmp.Or(first, err)
	}
	// One line for the download's status: the first failure stands for all.
	return fmt.Errorf("servent: push: none of %d proxies took it (%w)", len(proxies), first)
}
