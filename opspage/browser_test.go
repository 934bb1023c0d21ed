package opspage_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tollgate-go/tollgate/opspage"
)

// chromium is Debian's headless-capable Chromium (apt-get install
// chromium); `make test` installs it when it may.
const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium for the test and returns a tab's
// context, with a deadline for everything the test does in it. When
// operator is set, every request of the tab carries the operator's token.
func browser(t *testing.T, operator bool) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%v: the browser tests need Chromium there (Debian: apt-get install chromium; make test installs it when run as root)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	// The first call starts the browser, under no deadline (a deadline on
	// it would stop the browser); later calls run under a generous one.
	if _, err := chromedp.Run(ctx, chromedp.Location()); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	if operator {
		setOperator(t, ctx, true)
	}
	dctx, cancelDeadline := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelDeadline)
	return dctx
}

// setOperator makes the tab's requests carry the operator's token, or not.
func setOperator(t *testing.T, ctx context.Context, on bool) {
	t.Helper()
	h := network.Headers{}
	if on {
		h["X-Operator"] = operatorToken
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
		t.Fatal(err)
	}
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// submit runs a click that sends a form, and returns the response of the
// page the browser lands on.
func submit(t *testing.T, ctx context.Context, what string, click chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, click)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return resp
}

// open loads the page and returns its HTTP status.
func open(t *testing.T, ctx context.Context, f *fixture) int64 {
	t.Helper()
	resp := run(t, ctx, "loading the page", chromedp.NavigateResponse(f.srv.URL+"/debug/tollgate"))
	return resp.Status
}

// text is what a person sees of the element sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return run(t, ctx, "reading "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func count(t *testing.T, ctx context.Context, css string) int {
	t.Helper()
	return run(t, ctx, "counting "+css, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(css)+").length"))
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// rowButton is the button in the row of table id whose cells hold each of
// cells: an XPath query.
func rowButton(table string, cells ...string) string {
	q := "//table[@id='" + table + "']//tr"
	for _, c := range cells {
		q += "[td[normalize-space(.)='" + c + "']]"
	}
	return q + "//button"
}

// A person who is not an operator sees the policies, the rules, the
// clients denied most under their hashes and the boxed client, and no
// button.
func TestBrowserShowsThePageReadOnly(t *testing.T) {
	f := newFixture(t, memStore(t))
	f.traffic()
	ctx := browser(t, false)
	if status := open(t, ctx, f); status != 200 {
		t.Fatalf("the page: status %d", status)
	}
	if got := text(t, ctx, "#mode"); got != "read-only" {
		t.Errorf("mode %q, want read-only", got)
	}
	policies := text(t, ctx, "#policies")
	for _, want := range []string{"api\tGo\t3/h\tgcra", "login-ip\tlogin\t1/h\tgcra\tip", "tenant\ttenants\t2/h\tgcra\theader:X-Tenant", "uploads\ttenants\t2 in flight\tconcurrency\tip"} {
		if !strings.Contains(policies, want) {
			t.Errorf("the policies table reads:\n%s\nwant a row %q", policies, want)
		}
	}
	if rules := text(t, ctx, "#rules"); !strings.Contains(rules, "login\tpath /login\tlogin-ip\t2 denials within 1h0m0s: boxed for 1h0m0s\tdeny\tenforced") ||
		strings.Contains(rules, "shared-secret") {
		t.Errorf("the rules table reads:\n%s", rules)
	}
	denied := text(t, ctx, "#denied")
	for _, want := range []string{"1\t" + f.page.Hash("alice") + "\tapi\t6\t0", "2\t" + f.page.Hash(boxedIP) + "\tlogin-ip\t5\t0"} {
		if !strings.Contains(denied, want) {
			t.Errorf("the denied clients read:\n%s\nwant a row beginning %q", denied, want)
		}
	}
	if strings.Contains(denied, "alice") {
		t.Errorf("a raw key on the page:\n%s", denied)
	}
	// As shown: the headers in capitals.
	if boxed := text(t, ctx, "#boxed"); !strings.HasPrefix(boxed, "CLIENT\tRULE") || !strings.Contains(boxed, f.page.Hash(boxedIP)+"\tlogin\tlogin-ip") {
		t.Errorf("the penalty box reads:\n%s", boxed)
	}
	if n := count(t, ctx, "form, button"); n != 0 {
		t.Errorf("%d forms and buttons on a read-only page, want none", n)
	}
}

// An operator resets a denied client's quota and releases the boxed
// client with the page's buttons; a button the operator's browser clicks
// once it is no longer authorised is refused, and changes nothing.
func TestBrowserResetsAndReleasesWhenAuthorised(t *testing.T) {
	f := newFixture(t, memStore(t))
	f.traffic()
	ctx := browser(t, true)
	open(t, ctx, f)
	if got := text(t, ctx, "#mode"); got != "operator: resets allowed" {
		t.Fatalf("mode %q, want the operator's", got)
	}
	if n := count(t, ctx, "#denied form.reset button"); n != 4 {
		t.Errorf("%d reset buttons among the denied clients, want one each of 4", n)
	}

	resp := submit(t, ctx, "clicking alice's reset", chromedp.Click(rowButton("denied", f.page.Hash("alice"), "api")))
	if resp.Status != 200 || !strings.HasSuffix(resp.URL, "/debug/tollgate?done=reset") {
		t.Fatalf("after the click: %d %s, want the page again", resp.Status, resp.URL)
	}
	if got := text(t, ctx, "#done"); got != "The client's quota was reset." {
		t.Errorf("the note %q", got)
	}
	if got := f.times(4, "/go", "X-Client", "alice"); got[200] != 3 || got[429] != 1 {
		t.Errorf("alice after the reset: %v, want her quota of 3 again", got)
	}

	open(t, ctx, f)
	submit(t, ctx, "clicking the boxed client's release", chromedp.Click(rowButton("boxed", f.page.Hash(boxedIP), "login")))
	if got := text(t, ctx, "#done"); got != "The client was let out of the penalty box." {
		t.Errorf("the note %q", got)
	}
	if n := count(t, ctx, "#boxed"); n != 0 {
		t.Errorf("the penalty box is still listed after the release")
	}

	// The form by key, for a client the page does not list.
	f.times(4, "/go", "X-Client", "erin")
	open(t, ctx, f)
	run(t, ctx, "typing a key", chromedp.SendKeys(chromedp.CSS("form.by-key.reset input[name=key]"), "erin"))
	submit(t, ctx, "resetting by key", chromedp.Click(chromedp.CSS("form.by-key.reset button")))
	if got := f.times(1, "/go", "X-Client", "erin"); got[200] != 1 {
		t.Errorf("erin after a reset by key: %v, want admitted", got)
	}

	// The browser loses its authorisation with the buttons still shown.
	open(t, ctx, f)
	setOperator(t, ctx, false)
	resp = submit(t, ctx, "clicking bob's reset without authorisation", chromedp.Click(rowButton("denied", f.page.Hash("bob"), "api")))
	if resp.Status != 403 || !strings.Contains(text(t, ctx, "#error"), "read-only for you: no change was made") {
		t.Errorf("an unauthorised click: %d, %q; want 403 saying nothing changed", resp.Status, text(t, ctx, "#error"))
	}
	if got := f.times(1, "/go", "X-Client", "bob"); got[429] != 1 {
		t.Errorf("bob after a refused reset: %v, want still denied", got)
	}
}

// A key holding markup, with raw keys shown, is text a person reads: no
// script element, no dialog, the key's characters on the screen.
func TestBrowserShowsMarkupInKeysAsText(t *testing.T) {
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	f := newFixture(t, memStore(t), opspage.WithRawKeys())
	f.times(5, "/go", "X-Client", evil)
	f.times(3, "/tenant/x", "X-Tenant", evil, "X-Internal", "shared-secret")
	f.times(4, "/login", "X-Forwarded-For", boxedIP)
	ctx := browser(t, true)
	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	open(t, ctx, f)
	denied := text(t, ctx, "#denied")
	if strings.Count(denied, evil) != 2 {
		t.Errorf("the denied clients read:\n%s\nwant the key, as text, under api and under tenant", denied)
	}
	if n := count(t, ctx, "script, img, [onerror]"); n != 0 {
		t.Errorf("%d script or img elements on the page, want none", n)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d dialogs opened", n)
	}
	// Its reset button works: the hash it posts names the key.
	submit(t, ctx, "clicking the reset of the key with markup", chromedp.Click(rowButton("denied", evil, "api")))
	if got := f.times(1, "/go", "X-Client", evil); got[200] != 1 {
		t.Errorf("the key after its reset: %v, want admitted", got)
	}
}
