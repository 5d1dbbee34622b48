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

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
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
		p := openPage(t, browser, srv.URL, shots, 375, 740)

		// Step 1: the country comes from the browser's language (en-PK),
		// with an example number; the number is grouped as it is typed;
		// Enter in the field sends the code.
		p.waitJS("focus on the phone field", `document.activeElement.id === "phone"`)
		if got := p.text("country-name") + " " + p.text("country-code"); got != "Pakistan +92" {
			t.Errorf("country = %q, want Pakistan +92 from the browser language en-PK", got)
		}
		if hint := p.text("phone-hint"); !strings.Contains(hint, "301 2345678") || !strings.Contains(hint, "leading 0") {
			t.Errorf("phone hint = %q, want the example number and the leading-0 advice", hint)
		}
		if got := p.js(`document.getElementById("phone").autocomplete`); got != "tel" {
			t.Errorf("phone field autocomplete = %q, want tel", got)
		}
		p.checkTitle("Sign in · phoneauth example")
		p.do("type the number", chromedp.SendKeys(chromedp.ID("phone"), "3012345678"))
		if got := p.js(`document.getElementById("phone").value`); got != phoneNational {
			t.Errorf("typed 3012345678, the field shows %q, want %q", got, phoneNational)
		}
		p.checkFits("step 1")
		p.screenshot("1-phone")
		p.do("press Enter", chromedp.KeyEvent(kb.Enter))

		// Step 2: the whole number with an Edit button, the code in
		// development mode, the resend countdown, focus in the first box.
		p.waitVisible("step-code")
		p.waitJS("focus on the first digit", `document.activeElement.id === "digit-1"`)
		p.checkTitle("Enter your code · phoneauth example")
		if got := p.text("code-sent"); got != "Code sent by SMS to +92 301 2345678 · Edit" {
			t.Errorf("code step says %q, want the whole number and Edit", got)
		}
		p.waitJS("the sending announced politely", `document.getElementById("status").textContent.startsWith("Code sent to +92 301 2345678")`)
		code := p.text("dev-code")
		if sent := srv.lastCode(phoneE164); code != sent || len(code) != 6 {
			t.Fatalf("development note shows %q; the sender got %q", code, sent)
		}
		if got := p.text("resend"); !regexp.MustCompile(`^Resend in 0:(30|29)$`).MatchString(got) {
			t.Errorf("resend button says %q, want a 30-second countdown", got)
		}
		if !p.jsBool(`document.getElementById("resend").getAttribute("aria-disabled") === "true"`) {
			t.Error("resend button usable during the cooldown")
		}
		p.checkFits("step 2")
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
		// left, said at once (assertive), boxes cleared, focus back on the first.
		p.do("type a wrong code", chromedp.SendKeys(chromedp.ID("digit-1"), wrongCode(code)))
		p.waitText("code-error", "That code isn't right. 4 attempts left.")
		p.waitJS("the error alerted", `document.getElementById("alert").textContent.includes("4 attempts left")`)
		p.waitJS("boxes cleared, focus on the first", `document.activeElement.id === "digit-1" && [...document.querySelectorAll(".digits input")].every(b => b.value === "")`)

		// The right code signs in as soon as the sixth digit is typed.
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), code))
		p.waitVisible("step-done")
		p.waitJS("focus on the heading", `document.activeElement.id === "done-title"`)
		p.checkTitle("Signed in · phoneauth example")
		userID, sessionID := p.text("user-id"), p.text("session-id")
		if userID == "" || sessionID == "" {
			t.Fatalf("user id %q, session %q: want both shown", userID, sessionID)
		}
		if got := p.text("user-phone"); got != "+92 301 2345678" {
			t.Errorf("phone shown %q, want +92 301 2345678", got)
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
		p.checkFits("step 3")
		p.screenshot("3-signed-in")

		// Back once signed in: the code is spent, the page stays signed in.
		p.back()
		p.waitVisible("step-done")

		// Sign out: back to step 1, the session ended on the server.
		p.do("sign out", chromedp.Click(chromedp.ID("sign-out")))
		p.waitVisible("step-phone")
		p.waitText("phone-notice", "You're signed out.")
		p.waitJS("focus on the phone field", `document.activeElement.id === "phone"`)
		if s := srv.sessions(t, userID); len(s) != 0 {
			t.Errorf("after sign-out the server still has sessions %+v", s)
		}
		if n := p.js(`window.__otpCalls.length`); n != "0" {
			t.Errorf("WebOTP asked %s times by a server without a WebOTP domain", n)
		}
		p.screenshot("4-signed-out")
		p.checkClean()
	})

	t.Run("invalid-number", func(t *testing.T) {
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.do("type a short number", chromedp.SendKeys(chromedp.ID("phone"), "12345"+kb.Enter))
		p.waitText("phone-error", "Invalid phone number. Check the number and the country.")
		p.waitJS("the error announced at once", `document.getElementById("alert").textContent.startsWith("Invalid phone number")`)
		if got := p.js(`document.getElementById("phone").getAttribute("aria-invalid")`); got != "true" {
			t.Errorf("aria-invalid = %q, want true", got)
		}
		if !p.jsBool(`document.getElementById("step-code").hidden`) {
			t.Error("left step 1 on an invalid number")
		}
		p.screenshot("invalid-number")
		p.checkClean()
	})

	t.Run("country-picker", func(t *testing.T) {
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 1280, 800)
		if n, _ := strconv.Atoi(p.js(`document.querySelectorAll("#country-list [role=option]").length`)); n < 240 {
			t.Errorf("the picker lists %d regions, want every region phonenumbers knows (245)", n)
		}

		// Search by name: the list narrows, Enter picks the first match
		// and moves on to the number.
		p.do("open the picker", chromedp.Click(chromedp.ID("country")))
		p.waitJS("focus in the search box", `document.activeElement.id === "country-search" && document.getElementById("country").getAttribute("aria-expanded") === "true"`)
		p.do("search", chromedp.SendKeys(chromedp.ID("country-search"), "united k"))
		if got := p.js(`[...document.querySelectorAll("#country-list [role=option]")].filter(li => !li.hidden).map(li => li.dataset.code).join(",")`); got != "GB" {
			t.Errorf("\"united k\" lists %q, want GB alone", got)
		}
		if got := p.js(`document.getElementById("country-search").getAttribute("aria-activedescendant")`); got != "region-GB" {
			t.Errorf("active option %q, want region-GB", got)
		}
		p.screenshot("search")
		p.do("choose it", chromedp.KeyEvent(kb.Enter))
		p.waitJS("focus on the number", `document.activeElement.id === "phone" && document.getElementById("country-popup").hidden`)
		if got := p.text("country-name") + " " + p.text("dial"); got != "United Kingdom +44" {
			t.Errorf("picked %q, want United Kingdom +44", got)
		}

		// Search by calling code, move with the arrows, Escape closes and
		// keeps the choice.
		p.do("open the picker", chromedp.Click(chromedp.ID("country")))
		p.do("search +49", chromedp.SendKeys(chromedp.ID("country-search"), "+49"))
		if got := p.js(`[...document.querySelectorAll("#country-list [role=option]")].filter(li => !li.hidden).map(li => li.dataset.code).join(",")`); got != "DE" {
			t.Errorf("\"+49\" lists %q, want DE", got)
		}
		p.js(`(() => { const s = document.getElementById("country-search"); s.value = ""; s.dispatchEvent(new Event("input")); })()`)
		p.do("arrow down", chromedp.KeyEvent(kb.ArrowDown))
		if got := p.js(`document.getElementById("country-search").getAttribute("aria-activedescendant")`); got == "region-GB" || got == "" {
			t.Errorf("ArrowDown left the active option at %q", got)
		}
		p.do("Escape", chromedp.KeyEvent(kb.Escape))
		p.waitJS("focus back on the picker button", `document.activeElement.id === "country" && document.getElementById("country-popup").hidden`)
		if got := p.text("country-code"); got != "+44" {
			t.Errorf("after Escape the country is %q, want +44 kept", got)
		}

		// A number typed with "+" switches the country and keeps the rest,
		// grouped like the country's numbers.
		for _, tc := range []struct{ typed, country, dial, field string }{
			{"+1 2015550123", "United States", "+1", "201-555-0123"},
			{"+447400123456", "United Kingdom", "+44", "7400 123456"},
			{"+33612345678", "France", "+33", "6 12 34 56 78"},
		} {
			p.js(`document.getElementById("phone").value = ""`)
			p.do("type "+tc.typed, chromedp.SendKeys(chromedp.ID("phone"), tc.typed))
			got := p.text("country-name") + " " + p.text("dial") + " " + p.js(`document.getElementById("phone").value`)
			if want := tc.country + " " + tc.dial + " " + tc.field; got != want {
				t.Errorf("typed %s: %q, want %q", tc.typed, got, want)
			}
		}
		// Backspace just after a separator removes the digit before it,
		// Delete just before one the digit after it.
		p.js(`(() => { const f = document.getElementById("phone"); f.focus(); f.setSelectionRange(2, 2); })()`)
		p.do("press Backspace", chromedp.KeyEvent(kb.Backspace))
		if got := p.js(`document.getElementById("phone").value`); got != "1 23 45 67 8" {
			t.Errorf("Backspace after \"6 \" left %q, want \"1 23 45 67 8\"", got)
		}
		p.js(`document.getElementById("phone").setSelectionRange(1, 1)`)
		p.do("press Delete", chromedp.KeyEvent(kb.Delete))
		if got := p.js(`document.getElementById("phone").value`); got != "1 34 56 78" {
			t.Errorf("Delete before \" 2\" left %q, want \"1 34 56 78\"", got)
		}

		// Pasted or autofilled in full, the number sends as it reads.
		p.js(`document.getElementById("phone").value = ""`)
		p.do("paste a UK number", chromedp.SendKeys(chromedp.ID("phone"), "+44 7400 123456"))
		p.screenshot("phone")
		p.do("send", chromedp.Click(chromedp.ID("send")))
		p.waitVisible("step-code")
		if got := p.text("sent-to"); got != "+44 7400 123456" {
			t.Errorf("code sent to %q, want +44 7400 123456", got)
		}
		if got := srv.lastCode("+447400123456"); got == "" {
			t.Error("no code sent to +447400123456")
		}
		p.screenshot("code")
		p.checkClean()
	})

	t.Run("back-reload", func(t *testing.T) {
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 375, 740)
		p.requestCode()

		// Back: the number, as typed; Forward: the code step again.
		p.back()
		p.waitVisible("step-phone")
		p.checkTitle("Sign in · phoneauth example")
		if got := p.js(`document.getElementById("phone").value`); got != phoneNational {
			t.Errorf("after Back the field says %q, want %q", got, phoneNational)
		}
		p.forward()
		p.waitVisible("step-code")

		// Reload (twice) on the code step: the same request, its countdowns
		// still running from when the code was sent, no new code.
		for range 2 {
			p.reload()
			p.waitVisible("step-code")
		}
		if got := p.text("sent-to"); got != "+92 301 2345678" {
			t.Errorf("after reload the code step names %q", got)
		}
		if left := p.waitCountdown("resend", `^Resend in 0:(\d\d)$`); left > 30 || left == 0 {
			t.Errorf("after reload the resend countdown shows %d s", left)
		}
		if !p.jsBool(`/^The code expires in [45]:\d\d\.$/.test(document.getElementById("code-expiry").textContent)`) {
			t.Errorf("after reload the expiry says %q", p.text("code-expiry"))
		}

		// Edit, then the same number again within the cooldown: back to
		// the code, without asking the server for a code it would refuse.
		p.do("edit the number", chromedp.Click(chromedp.ID("change")))
		p.waitVisible("step-phone")
		p.waitJS("focus on the phone field", `document.activeElement.id === "phone"`)
		p.do("send again", chromedp.KeyEvent(kb.Enter))
		p.waitVisible("step-code")
		if got := p.text("code-sent"); got != "We already sent a code by SMS to +92 301 2345678 · Edit" {
			t.Errorf("code step says %q", got)
		}
		p.waitJS("the cooldown announced", `/^We already sent a code to \+92 301 2345678\. You can ask for a new one in \d+ seconds?\.$/.test(document.getElementById("status").textContent)`)
		if n := srv.hits("/auth/otp/request"); n != 1 {
			t.Errorf("%d code requests reached the server, want 1", n)
		}
		p.screenshot("already-sent")

		// The code from the first request still signs in; the storage keeps
		// no code.
		if stored := p.js(`sessionStorage.getItem("phoneauth.signin")`); strings.Contains(stored, srv.lastCode(phoneE164)) {
			t.Errorf("sessionStorage holds the code: %s", stored)
		}
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), srv.lastCode(phoneE164)))
		p.waitVisible("step-done")

		// Reload once signed in: the tokens were in memory only.
		p.reload()
		p.waitVisible("step-phone")
		p.checkClean()
	})

	t.Run("rate-limited", func(t *testing.T) {
		// A second tab has its own session: the server refuses a second
		// code to the same number within the cooldown, and the page counts
		// down.
		srv := newServer(t, nil)
		first := openPage(t, browser, srv.URL, shots, 480, 760)
		first.requestCode()
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.do("request again", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Enter))
		wait := p.waitCountdown("phone-error", `^Too many requests\. Try again in 0:(\d\d)\.$`)
		if wait < 25 || wait > 30 {
			t.Errorf("wait %d s, want the rest of the 30 s cooldown", wait)
		}
		if !p.jsBool(`document.getElementById("send").getAttribute("aria-disabled") === "true"`) {
			t.Error("send button usable while rate limited")
		}
		p.screenshot("rate-limited")
		p.waitJS("the countdown to tick", fmt.Sprintf(`(m => m && +m[1] < %d)(document.getElementById("phone-error").textContent.match(/in 0:(\d\d)/))`, wait))
		p.checkClean()
	})

	t.Run("out-of-attempts", func(t *testing.T) {
		srv := newServer(t, func(c *phoneauth.Config) { c.Limits.ResendCooldown = 4 * time.Second })
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.requestCode()
		code := srv.lastCode(phoneE164)
		for left := 4; left >= 1; left-- {
			p.do("type a wrong code", chromedp.SendKeys(chromedp.ID("digit-1"), wrongCode(code)))
			p.waitText("code-error", fmt.Sprintf("That code isn't right. %s left.", map[bool]string{true: "1 attempt", false: strconv.Itoa(left) + " attempts"}[left == 1]))
		}
		p.do("type the last wrong code", chromedp.SendKeys(chromedp.ID("digit-1"), wrongCode(code)))
		p.waitText("code-error", "That code isn't right, and no attempts are left. Send a new code.")

		// Everything says the same: boxes and Verify locked, no expiry
		// countdown, focus on the way on.
		p.waitJS("focus on the resend button", `document.activeElement.id === "resend"`)
		p.checkFocusRing("resend")
		p.checkLocked()
		p.screenshot("no-attempts")

		// A reload keeps it so.
		p.reload()
		p.waitVisible("step-code")
		p.checkLocked()

		// The correct code cannot be typed into the locked boxes.
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), code))
		if got := p.js(`[...document.querySelectorAll(".digits input")].map(b => b.value).join("")`); got != "" {
			t.Errorf("locked boxes took %q", got)
		}
		p.waitJS("Send a new code usable", `document.getElementById("resend").textContent === "Send a new code" && document.getElementById("resend").getAttribute("aria-disabled") === "false"`)
		p.do("send a new code", chromedp.Click(chromedp.ID("resend")))
		p.waitJS("a new code", `!document.getElementById("digit-1").readOnly && /^Resend in 0:0[34]$/.test(document.getElementById("resend").textContent)`)
		newCode := srv.lastCode(phoneE164)
		if srv.sentCount() != 2 {
			t.Fatalf("%d messages sent, want 2", srv.sentCount())
		}
		if !p.jsBool(`/^The code expires in [45]:\d\d\.$/.test(document.getElementById("code-expiry").textContent)`) {
			t.Errorf("after a new code the expiry says %q", p.text("code-expiry"))
		}
		p.do("type the new code", chromedp.SendKeys(chromedp.ID("digit-1"), newCode))
		p.waitVisible("step-done")
		p.checkClean()
	})

	t.Run("expired", func(t *testing.T) {
		// A code that lives 3 s: when it expires the page says so, locks
		// the boxes and offers a new code, which it asks for afresh (the
		// server has nothing left to resend).
		srv := newServer(t, func(c *phoneauth.Config) {
			c.CodeTTL = 3 * time.Second
			c.Limits.ResendCooldown = time.Second
		})
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.requestCode()
		p.waitText("code-error", "This code has expired. Send a new code.")
		p.waitJS("focus on the resend button", `document.activeElement.id === "resend"`)
		p.checkLocked()
		p.do("send a new code", chromedp.Click(chromedp.ID("resend")))
		p.waitJS("a new code", `!document.getElementById("digit-1").readOnly && document.getElementById("code-error").hidden`)
		if resends, requests := srv.hits("/auth/otp/resend"), srv.hits("/auth/otp/request"); resends != 1 || requests != 2 {
			t.Errorf("%d resends and %d requests reached the server, want the resend refused and a second request", resends, requests)
		}
		p.do("type the new code", chromedp.SendKeys(chromedp.ID("digit-1"), srv.lastCode(phoneE164)))
		p.waitVisible("step-done")
		p.checkClean()
	})

	t.Run("used-elsewhere", func(t *testing.T) {
		// The code is used elsewhere first (another tab of the browser: a
		// code belongs to the device that asked for it): the server has
		// nothing to check any more, and the page says so, also after a
		// reload.
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.requestCode()
		code := srv.lastCode(phoneE164)
		device := p.js(`localStorage.getItem("phoneauth.deviceId")`)
		if _, err := srv.auth.Verify(context.Background(), phoneauth.VerifyParams{
			Phone: phoneE164, Code: code, Device: phoneauth.Device{ID: device, Type: "web"}, IP: phoneauth.NoIP,
		}); err != nil {
			t.Fatalf("verifying in another tab: %v", err)
		}
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), code))
		p.waitText("code-error", "This code can no longer be used. Send a new code.")
		p.checkLocked()
		p.reload()
		p.waitText("code-error", "This code can no longer be used. Send a new code.")
		p.checkLocked()
		p.checkClean()
	})

	t.Run("resend", func(t *testing.T) {
		srv := newServer(t, func(c *phoneauth.Config) { c.Limits.ResendCooldown = 3 * time.Second })
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.requestCode()
		oldCode := p.text("dev-code")
		first := p.waitCountdown("resend", `^Resend in 0:(\d\d)$`)
		if first != 3 && first != 2 {
			t.Errorf("resend countdown starts at %d, want 3", first)
		}
		p.waitJS("the countdown to tick", `document.getElementById("resend").textContent === "Resend in 0:01"`)
		p.waitJS("resend usable", `document.getElementById("resend").textContent === "Resend code" && document.getElementById("resend").getAttribute("aria-disabled") === "false"`)
		p.do("resend", chromedp.Click(chromedp.ID("resend")))
		p.waitJS("a second code sent", `document.getElementById("resend").getAttribute("aria-disabled") === "true" && document.getElementById("resend").textContent.startsWith("Resend in")`)
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

	t.Run("slow-network", func(t *testing.T) {
		// Every API call takes 2 s (CDP throttling): the buttons show a
		// spinner and aria-busy, focus stays where it was, the boxes are
		// locked while the code is checked.
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		if _, err := chromedp.Call(p.ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(p.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{URLPattern: srv.URL + "/auth/*", Latency: 2000, DownloadThroughput: -1, UploadThroughput: -1}},
		}); err != nil {
			t.Fatal(err)
		}
		p.do("type the number, Tab to Send", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Tab+kb.Tab))
		p.waitJS("focus on Send code", `document.activeElement.id === "send"`)
		p.do("press Enter", chromedp.KeyEvent(kb.Enter))
		p.waitJS("Send busy", `(b => b.getAttribute("aria-busy") === "true" && b.getAttribute("aria-disabled") === "true" && b.textContent === "Sending…")(document.getElementById("send"))`)
		if got := p.js(`getComputedStyle(document.getElementById("send"), "::before").animationName`); got != "spin" {
			t.Errorf("busy Send button: spinner animation %q, want spin", got)
		}
		if got := p.js(`document.activeElement.id`); got != "send" {
			t.Errorf("focus moved to %q while sending, want it kept on send", got)
		}
		p.screenshot("sending")
		p.do("press Enter again", chromedp.KeyEvent(kb.Enter))
		p.waitVisible("step-code")
		if n := srv.hits("/auth/otp/request"); n != 1 {
			t.Errorf("Enter twice while sending made %d requests, want 1", n)
		}
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), srv.lastCode(phoneE164)))
		p.waitJS("verifying", `document.getElementById("code-form").getAttribute("aria-busy") === "true" && document.getElementById("verify").getAttribute("aria-busy") === "true"`)
		if !p.jsBool(`[...document.querySelectorAll(".digits input")].every(b => b.readOnly)`) {
			t.Error("digits editable while the code is checked")
		}
		if got := p.js(`document.activeElement.id`); got != "digit-6" {
			t.Errorf("focus on %q while verifying, want it kept on digit-6", got)
		}
		p.screenshot("verifying")
		p.waitVisible("step-done")
		p.checkClean()
	})

	t.Run("no-answer", func(t *testing.T) {
		// A server that never answers: the page gives up after 15 s, says
		// so, keeps the digits, and Verify tries again.
		srv := newServer(t, nil)
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.requestCode()
		srv.setHang("/auth/otp/verify", true)
		code := srv.lastCode(phoneE164)
		p.do("type the code", chromedp.SendKeys(chromedp.ID("digit-1"), code))
		p.waitJS("verifying", `document.getElementById("verify").getAttribute("aria-busy") === "true"`)
		p.waitJSFor("the timeout", 25*time.Second, `!document.getElementById("code-error").hidden`)
		if got := p.text("code-error"); got != "The server didn't answer within 15 seconds. Check your connection and try again." {
			t.Errorf("after no answer the page says %q", got)
		}
		if got := p.js(`[...document.querySelectorAll(".digits input")].map(b => b.value).join("")`); got != code {
			t.Errorf("digits after the timeout %q, want %q kept", got, code)
		}
		if p.jsBool(`document.getElementById("verify").hasAttribute("aria-busy") || document.getElementById("digit-1").readOnly`) {
			t.Error("still busy after the timeout")
		}
		p.screenshot("timeout")
		srv.setHang("/auth/otp/verify", false)
		p.do("verify again", chromedp.Click(chromedp.ID("verify")))
		p.waitVisible("step-done")
		p.checkClean()
	})

	t.Run("webotp", func(t *testing.T) {
		// With a WebOTP domain the message ends "@host #code" and the page
		// asks the browser for it (a stand-in for navigator.credentials,
		// which needs a phone); the code it hands over signs in.
		srv := newServer(t, func(c *phoneauth.Config) { c.WebOTPDomain = "127.0.0.1" }, web.WithWebOTP("127.0.0.1"))
		p := openPage(t, browser, srv.URL, shots, 480, 760)
		p.requestCode()
		p.waitJS("a WebOTP request", `window.__otpCalls.length === 1 && window.__otpCalls[0].otp.transport.join() === "sms"`)
		srv.mu.Lock()
		text := srv.sent[len(srv.sent)-1].Text
		srv.mu.Unlock()
		m := regexp.MustCompile(`(?m)^@127\.0\.0\.1 #(\d{6})$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("message %q lacks the WebOTP line", text)
		}
		p.js(fmt.Sprintf(`window.__deliverOTP(%q)`, m[1])) // the browser read the SMS
		p.waitVisible("step-done")
		p.checkClean()
	})

	for _, scheme := range []string{"light", "dark"} {
		t.Run("contrast-"+scheme, func(t *testing.T) {
			// Keyboard alone: Tab from the number to the channel, an arrow
			// key to WhatsApp, Tab to the button, Enter. Borders and focus
			// rings measured against what surrounds them.
			srv := newServer(t, nil)
			p := openPage(t, browser, srv.URL, shots, 480, 760)
			_, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			if err != nil {
				t.Fatal(err)
			}
			wantBG := map[string]string{"light": "rgb(243, 244, 248)", "dark": "rgb(17, 19, 26)"}[scheme]
			if bg := p.js(`getComputedStyle(document.documentElement).backgroundColor`); bg != wantBG {
				t.Errorf("background = %s, want %s", bg, wantBG)
			}
			card := `getComputedStyle(document.querySelector(".card")).backgroundColor`
			for _, id := range []string{"phone", "country", "digit-1", "resend"} {
				el := fmt.Sprintf(`getComputedStyle(document.getElementById(%q))`, id)
				p.checkContrast(id+" border", el+".borderTopColor", card, el+".backgroundColor")
			}
			p.checkFocusRing("phone")
			p.do("type the number, Tab", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Tab))
			p.waitJS("focus on SMS", `document.activeElement.value === "sms"`)
			p.do("choose WhatsApp", chromedp.KeyEvent(kb.ArrowRight))
			p.waitJS("WhatsApp chosen", `document.activeElement.value === "whatsapp" && document.activeElement.checked`)
			p.do("Tab to the button", chromedp.KeyEvent(kb.Tab))
			p.waitJS("focus on Send code", `document.activeElement.id === "send"`)
			p.checkFocusRing("send")
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
			p.checkFocusRing("digit-1")
			p.screenshot("code")
			p.checkClean()
		})
	}

	t.Run("narrow-paste-refresh", func(t *testing.T) {
		// A 320 px wide phone, the picker open on it; the code pasted as a
		// whole; an access token of 5 s that the page refreshes by itself.
		srv := newServer(t, func(c *phoneauth.Config) { c.Tokens.AccessTTL = 5 * time.Second })
		p := openPage(t, browser, srv.URL, shots, 320, 640)
		p.checkFits("step 1")
		p.do("open the picker", chromedp.Click(chromedp.ID("country")))
		p.checkFits("the country picker")
		p.screenshot("narrow-picker")
		p.do("close the picker", chromedp.KeyEvent(kb.Escape))
		p.requestCode()
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
// one mux, in development mode, with a sender that remembers the codes. It
// counts the requests of every path, and holds those of a path set to hang
// unanswered until the client gives up or the test ends.
type server struct {
	*httptest.Server
	auth *phoneauth.Authenticator

	mu      sync.Mutex
	sent    []phoneauth.Message
	counts  map[string]int
	hanging map[string]bool
}

func newServer(t *testing.T, tune func(*phoneauth.Config), opts ...web.Option) *server {
	t.Helper()
	key, err := phoneauth.GenerateEd25519Key("test")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{counts: map[string]int{}, hanging: map[string]bool{}}
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
	mux.Handle("/", web.Handler(opts...))
	testEnded := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[r.URL.Path]++
		hang := s.hanging[r.URL.Path]
		s.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-testEnded:
			}
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(testEnded) }) // before Close, which waits for requests
	return s
}

// hits returns how many requests for path the server has had.
func (s *server) hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// setHang makes requests for path hang unanswered, or answers them again.
func (s *server) setHang(path string, hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hanging[path] = hang
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
	// Record violations of the Content-Security-Policy in the page, and
	// stand in for WebOTP, which reads SMS only on a phone: calls are
	// recorded and answered by window.__deliverOTP(code).
	_, err := chromedp.Call(p.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
window.__otpCalls = [];
window.OTPCredential = window.OTPCredential || function OTPCredential() {};
(() => {
	let deliver = null;
	window.__deliverOTP = (code) => { if (deliver) deliver({ type: "otp", code }); };
	Object.defineProperty(navigator, "credentials", { configurable: true, value: { get(options) {
		window.__otpCalls.push({ otp: options.otp });
		return new Promise((resolve, reject) => {
			deliver = resolve;
			if (options.signal) options.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
		});
	} } });
})();`,
	})
	if err != nil {
		t.Fatalf("installing the CSP listener: %v", err)
	}
	p.do("open the page",
		chromedp.EmulateViewport(width, height),
		chromedp.Navigate(url),
	)
	p.waitReady()
	return p
}

// requestCode types the test number and Enter, and waits for the code step.
func (p *tab) requestCode() {
	p.t.Helper()
	p.do("request a code", chromedp.SendKeys(chromedp.ID("phone"), phoneNational+kb.Enter))
	p.waitVisible("step-code")
}

// reload is the browser's Reload button; it waits for the page's script.
func (p *tab) reload() {
	p.t.Helper()
	p.do("reload", chromedp.Reload())
	p.waitReady()
}

// waitReady waits until the script has loaded the countries and shown a step.
func (p *tab) waitReady() {
	p.t.Helper()
	p.waitJS("the script to run", `document.documentElement.dataset.ready === "true"`)
}

// back and forward are the browser's Back and Forward buttons.
func (p *tab) back()    { p.t.Helper(); p.history(-1) }
func (p *tab) forward() { p.t.Helper(); p.history(+1) }

func (p *tab) history(by int64) {
	p.t.Helper()
	h, err := chromedp.Call(p.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		p.t.Fatalf("navigation history: %v", err)
	}
	i := h.CurrentIndex + by
	if i < 0 || i >= int64(len(h.Entries)) {
		p.t.Fatalf("no history entry %d of %d", i, len(h.Entries))
	}
	if _, err := chromedp.Call(p.ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[i].ID}); err != nil {
		p.t.Fatalf("going to history entry %d: %v", i, err)
	}
}

// checkTitle checks the document's title.
func (p *tab) checkTitle(want string) {
	p.t.Helper()
	p.waitJS("title "+want, fmt.Sprintf(`document.title === %q`, want))
}

// checkLocked checks that a used-up code says so everywhere: boxes
// read-only, Verify unusable, the expiry countdown stopped (its text stays
// empty for more than a second) and the resend button offering a new code.
func (p *tab) checkLocked() {
	p.t.Helper()
	if !p.jsBool(`[...document.querySelectorAll(".digits input")].every(b => b.readOnly)`) {
		p.t.Error("boxes editable with no attempts left")
	}
	if got := p.js(`document.getElementById("verify").getAttribute("aria-disabled")`); got != "true" {
		p.t.Errorf("Verify aria-disabled = %q with no attempts left", got)
	}
	expiry, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](
		`new Promise(r => setTimeout(() => r(document.getElementById("code-expiry").textContent), 1200))`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatal(err)
	}
	if expiry != "" {
		p.t.Errorf("expiry countdown still says %q with no attempts left", expiry)
	}
	if got := p.text("resend"); !regexp.MustCompile(`^(New code in 0:\d\d|Send a new code)$`).MatchString(got) {
		p.t.Errorf("resend button says %q, want a new code offered", got)
	}
}

// contrastJS defines __contrast(fg, ...bg): the lowest WCAG contrast ratio
// of the CSS colour fg (composited over each background) against the
// backgrounds, all as getComputedStyle gives them ("rgb(…)" or "rgba(…)").
const contrastJS = `window.__contrast = (fg, ...bgs) => {
	const rgba = (c) => {
		const m = /^rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?\)$/.exec(c);
		if (!m) throw new Error("not an rgb colour: " + c);
		return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
	};
	const lum = ([r, g, b]) => [r, g, b].map(v => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
		.reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
	return Math.min(...bgs.map(bg => {
		const b = rgba(bg), f = rgba(fg);
		const over = [0, 1, 2].map(i => f[i] * f[3] + b[i] * (1 - f[3]));
		const [hi, lo] = [lum(over), lum(b)].sort((x, y) => y - x);
		return (hi + 0.05) / (lo + 0.05);
	}));
}`

// checkContrast fails if the colour fg (a JavaScript expression) is below
// 3:1 against any of the backgrounds (WCAG 1.4.11, non-text contrast).
func (p *tab) checkContrast(what, fg string, bgs ...string) {
	p.t.Helper()
	ratio, err := chromedp.Run(p.ctx, chromedp.Evaluate[float64](
		fmt.Sprintf(`(%s, __contrast(%s, %s))`, contrastJS, fg, strings.Join(bgs, ", "))))
	if err != nil {
		p.t.Fatalf("measuring %s: %v", what, err)
	}
	p.t.Logf("%s: %.2f:1", what, ratio)
	if ratio < 3 {
		p.t.Errorf("%s contrast %.2f:1, want at least 3:1", what, ratio)
	}
}

// checkFocusRing focuses the element with the id (if it is not already)
// and checks that its focus ring is drawn, at least 2 px wide, not faded,
// and at least 3:1 against the card.
func (p *tab) checkFocusRing(id string) {
	p.t.Helper()
	p.waitJS("focus on "+id, fmt.Sprintf(`(document.activeElement.id === %q || document.getElementById(%q).focus(), document.activeElement.id === %q)`, id, id, id))
	ring := fmt.Sprintf(`getComputedStyle(document.getElementById(%q))`, id)
	if got := p.js(ring + `.outlineStyle + " " + parseFloat(` + ring + `.outlineWidth)`); got != "solid 2" && got != "solid 3" {
		p.t.Errorf("%s focused: outline %q, want a solid ring of 2 or 3 px", id, got)
	}
	if got := p.js(ring + `.opacity`); got != "1" {
		p.t.Errorf("%s focused: opacity %s fades its ring", id, got)
	}
	p.checkContrast(id+" focus ring", ring+".outlineColor", `getComputedStyle(document.querySelector(".card")).backgroundColor`)
}

// listen records uncaught exceptions, console errors and the browser's own
// errors and warnings about the page.
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
	case *cdplog.EventEntryAdded:
		// The browser's own errors and warnings (a header it cannot parse,
		// a blocked resource), but not the failed-request lines that every
		// 4xx answer of the API logs.
		e := ev.Entry
		if (e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning) && e.Source != cdplog.EntrySourceNetwork {
			problem = fmt.Sprintf("browser %s (%s): %s", e.Level, e.Source, e.Text)
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
	p.waitJSFor(what, waitTimeout, expr)
}

// waitJSFor waits up to timeout until expr is true.
func (p *tab) waitJSFor(what string, timeout time.Duration, expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
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
