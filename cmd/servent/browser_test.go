package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
)

// chromium finds a headless-capable Chromium, or skips the test unless
// SERVENT_BROWSER_TEST=1 (.ci/run sets it after installing Debian's
// chromium), where a missing browser fails it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SERVENT_BROWSER_TEST") == "1" {
		t.Fatal("no Chromium found: install it (apt-get install chromium)")
	}
	t.Skip("no Chromium on this machine (.ci/run installs it and runs this test)")
	return ""
}

// TestBrowserUI drives the web UI in a real headless Chromium: log in to a
// leaf's UI with the key, search for a file an ultrapeer shares, see the
// result appear, click Download, watch the download complete (the SHA-1
// verified) and the file land byte-identical; a screenshot of every page,
// and nothing in the page's console is an error. SERVENT_SCREENSHOTS=DIR
// keeps the screenshots (docs/ui holds the README's).
func TestBrowserUI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end, with a browser")
	}
	exe := chromium(t)
	content := make([]byte, 2<<20)
	_, err := rand.Read(content)
	require.NoError(t, err)
	up := startTestNode(t, "127.0.0.25", servent.ModeUltrapeer)
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "browser test song.ogg"), content, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "browser second track.ogg"), []byte("track"), 0o644))
	_, _, err = runCLI(t, "shares", "rescan", "--data", up.data)
	require.NoError(t, err)
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	require.NoError(t, up.node.Library().WaitHashed(hctx))
	leaf := startTestNode(t, "127.0.0.26", servent.ModeLeaf, up.node.Addr().String())
	require.NoError(t, os.WriteFile(filepath.Join(leaf.share, "my own notes.txt"), []byte("notes"), 0o644))
	_, _, err = runCLI(t, "shares", "rescan", "--data", leaf.data)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return leaf.node.Status().Peers == 1 }, 10*time.Second, 5*time.Millisecond)
	addr, key, err := api.Discover(leaf.data)
	require.NoError(t, err)
	base := "http://" + addr

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1200, 850), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()

	var mu sync.Mutex
	var problems []string
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				problems = append(problems, "console.error: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				problems = append(problems, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	}))
	shots := t.TempDir()
	if d := os.Getenv("SERVENT_SCREENSHOTS"); d != "" {
		shots = d
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(png, []byte("\x89PNG")) {
				return fmt.Errorf("%s: not a PNG", name)
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	tab := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(`nav button[data-tab="` + name + `"]`))
	}
	// text polls until the element's text holds want.
	text := func(sel, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](fmt.Sprintf(`(document.querySelector(%q)?.textContent || "").includes(%q)`, sel, want),
				chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
			return err
		})
	}

	_, err = chromedp.Call(ctx, log.Enable, cdp.Empty{})
	require.NoError(t, err)
	defer func() {
		if !t.Failed() {
			return
		}
		// What the page showed when it went wrong.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer dcancel()
		page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		_ = chromedp.Do(dctx, shot("failure"))
		mu.Lock()
		t.Logf("page:\n%s\nconsole: %q\nscreenshot: %s", page, problems, filepath.Join(shots, "failure.png"))
		mu.Unlock()
	}()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#key`)),
		shot("login"),
		chromedp.SendKeys(chromedp.CSS(`#key`), key),
	))
	// The form's submit navigates away under the calls that follow it:
	// retry them until the new page is there.
	if err := chromedp.Do(ctx, chromedp.Submit(chromedp.CSS(`#key`))); err != nil && !strings.Contains(err.Error(), "navigated") {
		require.NoError(t, err)
	}
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && loc == base+"/" {
			break
		}
		require.NoError(t, ctx.Err(), "the login did not lead to the UI (at %s: %v)", loc, err)
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#status`)),
		text("#conn", "live"),
		text("#st-mode", "leaf"),
		text("#st-peers", "1 ultrapeer"),
		chromedp.Click(chromedp.CSS(`#doctor`)),
		text("#message", "TCP reachable"),     // the ultrapeer connected back
		chromedp.Sleep(2500*time.Millisecond), // a few points on the traffic chart for the screenshot
		shot("status"),

		tab("search"),
		chromedp.SendKeys(chromedp.CSS(`#search-words`), "browser song"),
		chromedp.Click(chromedp.CSS(`#search-form button`)), // Submit would bypass the page's handler
		text("#results tbody", "browser test song.ogg"),
		text("#search-info", "1 result"),
		shot("search"),
		chromedp.Click(chromedp.CSS(`#results button.dl`)),
		text("#message", "Downloading browser test song.ogg"),
		chromedp.Click(chromedp.CSS(`#search-stop`)),
		text("#message", `Stopped the search for "browser song"`),
		// Browse the host that has it: its other file shows too.
		chromedp.Click(chromedp.CSS(`#results button.bh`)),
		text("#message", "Browsing the host of browser test song.ogg"),
		text("#search-info", `"browse `+up.node.Addr().String()),
		text("#results tbody", "browser second track.ogg"),

		tab("downloads"),
		chromedp.WaitVisible(chromedp.CSS(`.download[data-state="complete"]`)),
		text("#dl-list", "100.0% of 2.0 MiB"),
		shot("downloads"),

		tab("shares"),
		text("#share-list tbody", "my own notes.txt"),
		shot("shares"),

		tab("peers"),
		text("#peer-list tbody", up.node.Addr().String()),
		text("#peer-list tbody", "outbound ipv4 tls"),
		shot("peers"),
	))

	st, err := os.Stat(filepath.Join(leaf.data, api.KeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the key file after a browser login")
	got, err := os.ReadFile(filepath.Join(leaf.downloads, "browser test song.ogg"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(content, got), "downloaded file differs")
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, problems, "errors in the page's console")
	for _, n := range []string{"login", "status", "search", "downloads", "shares", "peers"} {
		st, err := os.Stat(filepath.Join(shots, n+".png"))
		require.NoError(t, err)
		require.Positive(t, st.Size())
	}
}
