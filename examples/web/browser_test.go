package web_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http"
	"net/http/httptest"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/examples/web"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// The browser tests drive Debian's Chromium, headless, through the sign-in
// page served beside the real adapter on loopback. Screenshots of every step
// go to $PHONEAUTH_SCREENSHOT_DIR (else a temporary directory); with
// PHONEAUTH_UPDATE_SCREENSHOTS=1 the three steps are also copied to
// docs/screenshots for the README.

const (
	phoneNational = "301 2345678"   // as a person in Pakistan types it
	phoneE164     = "+923012345678" // as the server stores it
	tabTimeout    = 60 * time.Second
	waitTimeout   = 15 * time.Second
)

// docsShots names the screenshots that PHONEAUTH_UPDATE_SCREENSHOTS=1
// copies to docs/screenshots.
var docsShots = map[string]string{
	"sign-in/1-phone":     "signin-1-phone.png",
	"sign-in/2-code":      "signin-2-code.png",
	"sign-in/3-signed-in": "signin-3-signed-in.png",
}

func TestBrowser(t *testing.T) {
	browser := startBrowser(t)
	shots := os.Getenv("PHONEAUTH_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	t.Logf("screenshots in %s", shots)

	t.Run("sign-in", func(t *testing.T) {
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)

		// Step 1: the country comes from the browser's language (en-PK),
		// with an example number; Enter in the field sends the code.
		p.waitJS("focus on the phone field", `document.activeElement.id === "phone"`)
		if got := p.js(`document.getElementById("country").value`); got != "PK" {
			t.Errorf("country = %q, want PK from the browser language en-PK", got)
		}
		if hint := p.text("phone-hint"); !strings.Contains(hint, "301 2345678") || !strings.Contains(hint, "leading 0") {
			t.Errorf("phone hint = %q, want the example number and the leading-0 advice", hint)
		}
		p.do("type the number", chromedp.SendKeys(chromedp.ID("phone"), phoneNational))
		p.screenshot("1-phone")
		p.do("press Enter", chromedp.KeyEvent(kb.Enter))

		// Step 2: the masked phone, the code in development mode, the
		// resend countdown, focus in the first box.
		p.waitVisible("step-code")
		p.waitJS("focus on the first digit", `document.activeElement.id === "digit-1"`)
		if got, want := p.text("sent-to"), phoneauth.MaskPhone(phoneE164); got != want || strings.Contains(got, "2345678") {
			t.Errorf("sent to %q, want the masked %q", got, want)
		}
		code := p.text("dev-code")
		if sent := srv.lastCode(phoneE164); code != sent || len(code) != 6 {
			t.Fatalf("development note shows %q; the sender got %q", code, sent)
		}
		if got := p.text("resend"); !regexp.MustCompile(`^Resend in 0:(30|29)$`).MatchString(got) {
			t.Errorf("resend button says %q, want a 30-second countdown", got)
		}
		if !p.jsBool(`document.getElementById("resend").disabled`) {
			t.Error("resend button enabled during the cooldown")
		}
		p.screenshot("2-code")

		// Auto-advance and Backspace: two digits typed into the first box
		// land in boxes 1 and 2; Backspace in the empty third box goes
		// back and clears the second.
		p.do("type two digits", chromedp.SendKeys(chromedp.ID("digit-1"), "98"))
		p.waitJS("focus on the third digit", `document.activeElement.id === "digit-3"`)
		p.do("press Backspace", chromedp.KeyEvent(kb.Backspace))
		p.waitJS("focus back on the second digit", `document.activeElement.id === "digit-2"`)
		if got := p.js(`[1,2,3].map(i => document.getElementById("digit-" + i).value).join(",")`); got != "9,," {
			t.Errorf("digits after Backspace = %q, want \"9,,\"", got)
		}

		// A wrong code, typed digit by digit from the first box: attempts
		// left, boxes cleared, focus back on the first.
		p.do("type a wrong code", chromedp.SendKeys(chromedp.ID("digit-1"), wrongCode(code)))
		p.waitText("code-error", "That code isn't right. 4 attempts left.")
		p.waitJS("the error announced", `document.getElementById("announcer").textContent.includes("4 attempts left")`)
		p.waitJS("boxes cleared, focus on the first", `document.activeElement.id === "digit-1" && [...document.querySelectorAll(".digits input")].every(b => b.value === "")`)

		// The right code signs in as soon as the sixth digit is typed.
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), code))
		p.waitVisible("step-done")
		p.waitJS("focus on the heading", `document.activeElement.id === "done-title"`)
		userID, sessionID := p.text("user-id"), p.text("session-id")
		if userID == "" || sessionID == "" {
			t.Fatalf("user id %q, session %q: want both shown", userID, sessionID)
		}
		if got := p.text("user-phone"); got != phoneE164 {
			t.Errorf("phone shown %q, want %q", got, phoneE164)
		}
		if got := p.text("token-left"); !regexp.MustCompile(`^in 1[45]:\d\d$`).MatchString(got) {
			t.Errorf("token expiry shows %q, want about 15 minutes", got)
		}
		claims := p.text("claims")
		if !strings.Contains(claims, `"sub": "`+userID+`"`) || !strings.Contains(claims, `"sid": "`+sessionID+`"`) {
			t.Errorf("decoded claims %s do not name user %s and session %s", claims, userID, sessionID)
		}
		sessions := srv.sessions(t, userID)
		if len(sessions) != 1 || sessions[0].ID != sessionID || sessions[0].Device.Type != "web" {
			t.Fatalf("server sessions of %s = %+v, want the one web session %s", userID, sessions, sessionID)
		}
		p.screenshot("3-signed-in")

		// Sign out: back to step 1, the session ended on the server.
		p.do("sign out", chromedp.Click(chromedp.ID("sign-out")))
		p.waitVisible("step-phone")
		p.waitText("phone-notice", "You're signed out.")
		p.waitJS("focus on the phone field", `document.activeElement.id === "phone"`)
		if s := srv.sessions(t, userID); len(s) != 0 {
			t.Errorf("after sign-out the server still has sessions %+v", s)
		}
		p.screenshot("4-signed-out")
		p.checkClean()
	})

	t.Run("invalid-number", func(t *testing.T) {
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.do("type a short number", chromedp.SendKeys(chromedp.ID("phone"), "12345"+kb.Enter))
		p.waitText("phone-error", "Invalid phone number. Check the number and the country.")
		p.waitJS("the error announced", `document.getElementById("announcer").textContent.startsWith("Invalid phone number")`)
		if got := p.js(`document.getElementById("phone").getAttribute("aria-invalid")`); got != "true" {
			t.Errorf("aria-invalid = %q, want true", got)
		}
		if !p.jsBool(`document.getElementById("step-code").hidden`) {
			t.Error("left step 1 on an invalid number")
		}
		p.screenshot("invalid-number")
		p.checkClean()
	})

	t.Run("rate-limited", func(t *testing.T) {
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.do("request a code", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Enter))
		p.waitVisible("step-code")
		p.do("change number", chromedp.Click(chromedp.ID("change")))
		p.waitJS("focus on the phone field", `document.activeElement.id === "phone"`)
		p.do("request again", chromedp.KeyEvent(kb.Enter))
		first := p.waitCountdown("phone-error", `^Too many requests\. Try again in 0:(\d\d)\.$`)
		if first < 25 || first > 30 {
			t.Errorf("wait %d s, want the rest of the 30 s cooldown", first)
		}
		if !p.jsBool(`document.getElementById("send").disabled`) {
			t.Error("send button enabled while rate limited")
		}
		p.screenshot("rate-limited")
		p.waitJS("the countdown to tick", fmt.Sprintf(`(m => m && +m[1] < %d)(document.getElementById("phone-error").textContent.match(/in 0:(\d\d)/))`, first))
		p.checkClean()
	})

	t.Run("resend", func(t *testing.T) {
		srv := newServer(t, func(c *phoneauth.Config) { c.Limits.ResendCooldown = 3 * time.Second })
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.do("request a code", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Enter))
		p.waitVisible("step-code")
		oldCode := p.text("dev-code")
		first := p.waitCountdown("resend", `^Resend in 0:(\d\d)$`)
		if first != 3 && first != 2 {
			t.Errorf("resend countdown starts at %d, want 3", first)
		}
		p.waitJS("the countdown to tick", `document.getElementById("resend").textContent === "Resend in 0:01" && document.getElementById("resend").disabled`)
		p.waitJS("resend enabled", `document.getElementById("resend").textContent === "Resend code" && !document.getElementById("resend").disabled`)
		p.do("resend", chromedp.Click(chromedp.ID("resend")))
		p.waitJS("a second code sent", `document.getElementById("resend").disabled`)
		if n := srv.sentCount(); n != 2 {
			t.Fatalf("%d messages sent, want 2", n)
		}
		newCode := srv.lastCode(phoneE164)
		p.waitText("dev-code", newCode)

		// Only the newest code works.
		if oldCode != newCode {
			p.do("type the old code", chromedp.SendKeys(chromedp.ID("digit-1"), oldCode))
			p.waitText("code-error", "That code isn't right. 4 attempts left.")
		}
		p.do("type the new code", chromedp.SendKeys(chromedp.ID("digit-1"), newCode))
		p.waitVisible("step-done")
		p.checkClean()
	})

	t.Run("keyboard-dark", func(t *testing.T) {
		// Keyboard alone, in the dark colour scheme: Tab from the number to
		// the channel, an arrow key to WhatsApp, Tab to the button, Enter.
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		_, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if bg := p.js(`getComputedStyle(document.documentElement).backgroundColor`); bg != "rgb(17, 19, 26)" {
			t.Errorf("dark background = %s, want rgb(17, 19, 26)", bg)
		}
		p.do("type the number, Tab", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Tab))
		p.waitJS("focus on SMS", `document.activeElement.value === "sms"`)
		p.do("choose WhatsApp", chromedp.KeyEvent(kb.ArrowRight))
		p.waitJS("WhatsApp chosen", `document.activeElement.value === "whatsapp" && document.activeElement.checked`)
		p.do("Tab to the button", chromedp.KeyEvent(kb.Tab))
		p.waitJS("focus on Send code", `document.activeElement.id === "send"`)
		p.screenshot("phone")
		p.do("press Enter", chromedp.KeyEvent(kb.Enter))
		p.waitVisible("step-code")
		if got := p.text("sent-by"); got != "on WhatsApp" {
			t.Errorf("sent %q, want on WhatsApp", got)
		}
		srv.mu.Lock()
		ch := srv.sent[len(srv.sent)-1].Channel
		srv.mu.Unlock()
		if ch != phoneauth.WhatsApp {
			t.Errorf("server sent by %q, want WhatsApp", ch)
		}
		p.screenshot("code")
		p.checkClean()
	})

	t.Run("narrow-paste-refresh", func(t *testing.T) {
		// A 360 px wide phone; the code pasted as a whole; an access token
		// of 5 s that the page refreshes by itself.
		srv := newServer(t, func(c *phoneauth.Config) { c.Tokens.AccessTTL = 5 * time.Second })
		p := openPage(t, browser, srv.URL, shots, 360, 740)
		p.checkFits("step 1")
		p.do("request a code", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Enter))
		p.waitVisible("step-code")
		p.checkFits("step 2")
		p.screenshot("narrow-code")
		code := srv.lastCode(phoneE164)
		p.js(`(() => {
			const dt = new DataTransfer();
			dt.setData("text/plain", " ` + code[:3] + `-` + code[3:] + ` ");
			document.getElementById("digit-1").dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
			return "";
		})()`)
		p.waitVisible("step-done")
		p.checkFits("step 3")
		p.screenshot("narrow-signed-in")
		sessionID := p.text("session-id")
		p.waitJS("an automatic refresh", `document.getElementById("refreshes").textContent.includes("Refreshed 1 time,")`)
		if got := p.text("session-id"); got != sessionID {
			t.Errorf("session after refresh %q, want the same %q", got, sessionID)
		}
		if got := p.text("token-left"); got != "in 0:05" && got != "in 0:04" {
			t.Errorf("token expiry after refresh %q, want a new 5 s", got)
		}
		// A double click refreshes once: a second refresh with the rotated
		// token would count as reuse and end the session.
		p.js(`(() => { const b = document.getElementById("refresh"); b.click(); b.click(); return ""; })()`)
		p.waitJS("a manual refresh", `document.getElementById("refreshes").textContent.includes("Refreshed 2 times,")`)
		if s := srv.sessions(t, p.text("user-id")); len(s) != 1 {
			t.Errorf("after a double click on Refresh the server has sessions %+v, want the one", s)
		}
		if p.jsBool(`document.getElementById("step-done").hidden`) {
			t.Error("signed out by a double click on Refresh")
		}
		p.checkClean()
	})
}

// ---- the server ------------------------------------------------------------

// server is the example server in miniature: the adapter and the page on
// one mux, in development mode, with a sender that remembers the codes.
type server struct {
	*httptest.Server
	auth *phoneauth.Authenticator

	mu   sync.Mutex
	sent []phoneauth.Message
}

func newServer(t *testing.T, tune func(*phoneauth.Config)) *server {
	t.Helper()
	key, err := phoneauth.GenerateEd25519Key("test")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	cfg := phoneauth.Config{
		Store: phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.sent = append(s.sent, m)
			return "msg-" + strconv.Itoa(len(s.sent)), nil
		}),
		Secret:      []byte(rand.Text() + rand.Text()),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Development: true,
	}
	if tune != nil {
		tune(&cfg)
	}
	if s.auth, err = phoneauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	h, err := httpadapter.New(s.auth)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("/", web.Handler())
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// lastCode returns the newest code sent to phone.
func (s *server) lastCode(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.sent) - 1; i >= 0; i-- {
		if s.sent[i].To == phone {
			return s.sent[i].Code
		}
	}
	return ""
}

func (s *server) sentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func (s *server) sessions(t *testing.T, userID string) []phoneauth.Session {
	t.Helper()
	ss, err := s.auth.Sessions(context.Background(), userID)
	if err != nil {
		t.Fatalf("Sessions(%s): %v", userID, err)
	}
	return ss
}

// wrongCode returns a code of the same length that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// ---- the browser -----------------------------------------------------------

// chromium returns the path of a Chromium or Chrome binary: $CHROMIUM,
// /usr/bin/chromium, or the first of the usual names on $PATH. Without one
// the test is skipped, or fails under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); c != "" && err == nil && !fi.IsDir() {
			return c
		}
	}
	msg := "no Chromium found (looked at $CHROMIUM, /usr/bin/chromium and $PATH): install it with scripts/install-chromium.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startBrowser starts one headless Chromium for the whole test, with a fresh
// profile; each subtest opens its own tab.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-in first-out)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-PK"),
		chromedp.Flag("accept-lang", "en-PK,en"),
		chromedp.UserDataDir(profile),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The first run starts the browser; it must not have a timeout, which
	// would stop the browser with it.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(browser) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatalf("starting %s: %v", exe, err)
		}
	case <-time.After(tabTimeout):
		t.Fatalf("%s did not start within %v", exe, tabTimeout)
	}
	return browser
}

// tab is one browser tab on the page, with the test's helpers.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots string

	mu       sync.Mutex
	problems []string // uncaught exceptions and console errors
}

// openPage opens a tab of width×height on url and waits for the script.
func openPage(t *testing.T, browser context.Context, url, shots string, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	p := &tab{t: t, ctx: ctx, shots: shots}
	if err := chromedp.Listen(ctx, p.listen); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	p.ctx, cancel = context.WithTimeout(ctx, tabTimeout)
	t.Cleanup(cancel)
	// Record violations of the Content-Security-Policy in the page.
	_, err := chromedp.Call(p.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`,
	})
	if err != nil {
		t.Fatalf("installing the CSP listener: %v", err)
	}
	p.do("open the page",
		chromedp.EmulateViewport(width, height),
		chromedp.Navigate(url),
	)
	p.waitJS("the script to run", `document.getElementById("country").options.length > 30`)
	return p
}

// listen records uncaught exceptions and console errors of the page.
func (p *tab) listen(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = fmt.Sprintf("uncaught exception %s at %s:%d", d.Text, d.URL, d.LineNumber+1)
		if d.Exception != nil && d.Exception.Description != "" {
			problem += ": " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			problem = "console.error"
			for _, a := range ev.Args {
				problem += " " + string(a.Value) + a.Description
			}
		}
	}
	if problem != "" {
		p.mu.Lock()
		p.problems = append(p.problems, problem)
		p.mu.Unlock()
	}
}

// checkClean fails the test if the page threw, logged an error, or broke
// its Content-Security-Policy.
func (p *tab) checkClean() {
	p.t.Helper()
	if v := p.js(`window.__csp.join("; ")`); v != "" {
		p.t.Errorf("Content-Security-Policy violations: %s", v)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.t.Errorf("page: %s", pr)
	}
}

func (p *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// js evaluates expr and returns its value as a string.
func (p *tab) js(expr string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func (p *tab) jsBool(expr string) bool {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// text returns the text of the element with the id.
func (p *tab) text(id string) string {
	p.t.Helper()
	return strings.TrimSpace(p.js(fmt.Sprintf(`document.getElementById(%q).textContent`, id)))
}

// waitJS waits until expr is true.
func (p *tab) waitJS(what, expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		p.t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// waitVisible waits until the step with the id is the one shown.
func (p *tab) waitVisible(id string) {
	p.t.Helper()
	p.waitJS(id+" shown", fmt.Sprintf(`!document.getElementById(%q).hidden && document.getElementById(%q).offsetHeight > 0`, id, id))
}

// waitText waits until the element with the id is shown and has the text.
func (p *tab) waitText(id, want string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`!document.getElementById(%q).hidden && document.getElementById(%q).textContent.trim() === %q`, id, id, want),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		p.t.Fatalf("waiting for #%s to say %q (it says %q): %v", id, want, p.text(id), err)
	}
}

// waitCountdown waits until the element's text matches pattern and returns
// the seconds that the pattern's group captures.
func (p *tab) waitCountdown(id, pattern string) int {
	p.t.Helper()
	re := regexp.MustCompile(pattern)
	var got string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = p.text(id)
		if m := re.FindStringSubmatch(got); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	p.t.Fatalf("#%s says %q, want %s", id, got, pattern)
	return 0
}

// checkFits fails if the page scrolls sideways or the code boxes overflow.
func (p *tab) checkFits(step string) {
	p.t.Helper()
	if got := p.js(`(() => {
		const w = document.documentElement.clientWidth;
		if (document.documentElement.scrollWidth > w) return "page is " + document.documentElement.scrollWidth + " px wide in a " + w + " px window";
		for (const el of document.querySelectorAll("main *")) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && r.right > w + 0.5) return (el.id || el.tagName) + " ends at " + r.right + " px of " + w;
		}
		return "";
	})()`); got != "" {
		p.t.Errorf("%s does not fit: %s", step, got)
	}
}

// screenshot saves the viewport as <dir>/<test>-<name>.png, and copies the
// pictures of the README to docs/screenshots with
// PHONEAUTH_UPDATE_SCREENSHOTS=1.
func (p *tab) screenshot(name string) {
	p.t.Helper()
	// The page down to the card's bottom margin, at twice the resolution
	// for sharp pictures on high-density screens.
	box, err := chromedp.Run(p.ctx, chromedp.Evaluate[struct{ Width, Height float64 }](
		`({width: document.documentElement.clientWidth, height: Math.ceil(document.querySelector("main").getBoundingClientRect().bottom) + 24})`))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	shot, err := chromedp.Call(p.ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Clip: &page.Viewport{Width: box.Width, Height: box.Height, Scale: 2},
	})
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	png := shot.Data
	sub := strings.TrimPrefix(p.t.Name(), "TestBrowser/")
	file := filepath.Join(p.shots, strings.ReplaceAll(sub, "/", "-")+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if doc, ok := docsShots[sub+"/"+name]; ok && os.Getenv("PHONEAUTH_UPDATE_SCREENSHOTS") == "1" {
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, doc), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("updated %s", filepath.Join(dir, doc))
	}
}
