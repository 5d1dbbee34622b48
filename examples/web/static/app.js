// Sign-in page of the phoneauth example server: request a code, enter it,
// stay signed in by refreshing the access token, sign out. No framework and
// no build step; it talks only to the library's JSON routes on this origin.
"use strict";

// ISO code, name, calling code, example mobile number, trunk prefix that a
// national number starts with at home (left out here, though the server
// accepts it too).
const COUNTRIES = [
  ["AE", "United Arab Emirates", "971", "50 123 4567", "0"],
  ["AU", "Australia", "61", "412 345 678", "0"],
  ["BD", "Bangladesh", "880", "1812-345678", "0"],
  ["BR", "Brazil", "55", "11 96123-4567", "0"],
  ["CA", "Canada", "1", "506 234 5678", ""],
  ["CH", "Switzerland", "41", "78 123 45 67", "0"],
  ["CN", "China", "86", "131 2345 6789", "0"],
  ["DE", "Germany", "49", "1512 3456789", "0"],
  ["EG", "Egypt", "20", "100 123 4567", "0"],
  ["ES", "Spain", "34", "612 34 56 78", ""],
  ["FR", "France", "33", "6 12 34 56 78", "0"],
  ["GB", "United Kingdom", "44", "7400 123456", "0"],
  ["ID", "Indonesia", "62", "812-345-678", "0"],
  ["IE", "Ireland", "353", "85 012 3456", "0"],
  ["IN", "India", "91", "81234 56789", "0"],
  ["IT", "Italy", "39", "312 345 6789", ""],
  ["JP", "Japan", "81", "90-1234-5678", "0"],
  ["KE", "Kenya", "254", "712 123456", "0"],
  ["KR", "South Korea", "82", "10-2000-0000", "0"],
  ["LK", "Sri Lanka", "94", "71 234 5678", "0"],
  ["MX", "Mexico", "52", "222 123 4567", ""],
  ["MY", "Malaysia", "60", "12-345 6789", "0"],
  ["NG", "Nigeria", "234", "802 123 4567", "0"],
  ["NL", "Netherlands", "31", "6 12345678", "0"],
  ["NP", "Nepal", "977", "984-1234567", "0"],
  ["PH", "Philippines", "63", "905 123 4567", "0"],
  ["PK", "Pakistan", "92", "301 2345678", "0"],
  ["PL", "Poland", "48", "512 345 678", ""],
  ["QA", "Qatar", "974", "3312 3456", ""],
  ["SA", "Saudi Arabia", "966", "51 234 5678", "0"],
  ["SG", "Singapore", "65", "8123 4567", ""],
  ["TR", "Türkiye", "90", "501 234 56 78", "0"],
  ["US", "United States", "1", "201 555 0123", ""],
  ["ZA", "South Africa", "27", "71 123 4567", "0"],
];
const OTHER = "other";
const CODE_LENGTH = 6;
const MAX_ATTEMPTS = 5; // phoneauth's default Config.MaxAttempts

const $ = (id) => document.getElementById(id);
const boxes = Array.from({ length: CODE_LENGTH }, (_, i) => $(`digit-${i + 1}`));

// What the page knows: the phone being signed in and, once signed in, the
// tokens. Tokens live in memory only: a reload signs out of this page.
const state = { phone: "", country: "", requestId: "", attemptsLeft: MAX_ATTEMPTS, busy: false, refreshing: false, session: null };
const timers = {};

// ---- helpers ---------------------------------------------------------------

// api POSTs body as JSON and unwraps the envelope {success, message, code,
// attemptsLeft, data}; a network failure is status 0.
async function api(path, body) {
  let res;
  try {
    res = await fetch(path, {
      method: "POST", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, code: "network", message: "Can't reach the server. Check your connection and try again.", data: {}, retryAfter: 0 };
  }
  let env = {};
  try { env = await res.json(); } catch { /* not JSON: use the status */ }
  return {
    ok: res.ok && env.success !== false,
    status: res.status,
    code: env.code || "",
    message: env.message || `Request failed (${res.status})`,
    data: env.data || {},
    attemptsLeft: env.attemptsLeft,
    retryAfter: retryAfter(res.headers.get("Retry-After")),
  };
}

// retryAfter reads a Retry-After header (seconds or an HTTP date) as seconds.
function retryAfter(h) {
  if (!h) return 0;
  const s = /^\d+$/.test(h) ? Number(h) : (Date.parse(h) - Date.now()) / 1000;
  return Number.isFinite(s) ? Math.max(0, Math.ceil(s)) : 0;
}

// countdown calls tick(secondsLeft) now and whenever the number changes,
// down to 0. A new countdown under the same name replaces the old one.
function countdown(name, seconds, tick) {
  stop(name);
  const end = Date.now() + seconds * 1000;
  let last = -1;
  const step = () => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    if (left !== last) { last = left; tick(left); }
    if (left === 0) stop(name);
  };
  timers[name] = setInterval(step, 200);
  step();
}
function stop(name) { clearInterval(timers[name]); clearTimeout(timers[name]); delete timers[name]; }
function stopAll() { Object.keys(timers).forEach(stop); }

const sentence = (s) => (/[.!?]$/.test(s) ? s : `${s}.`);
const clock = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// announce has screen readers read text (errors and status changes).
function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

// setError shows text under a field (and announces it unless quiet); an
// empty text hides it.
function setError(id, text, { field, quiet } = {}) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
  if (field) field.setAttribute("aria-invalid", text ? "true" : "false");
  if (text && !quiet) announce(text);
}

function show(step, focus) {
  for (const id of ["step-phone", "step-code", "step-done"]) $(id).hidden = id !== step;
  (focus || $(step).querySelector("h1")).focus();
}

function deviceId() {
  const make = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  try {
    let id = localStorage.getItem("phoneauth.deviceId");
    if (!id) localStorage.setItem("phoneauth.deviceId", (id = "web-" + make()));
    return id;
  } catch {
    return (state.deviceId ||= "web-" + make()); // storage blocked
  }
}

function deviceInfo() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox"
    : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS"
    : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  const version = (ua.match(/(?:Edg|Firefox|Chrome|Chromium|Version)\/([\d.]+)/) || [])[1] || "";
  return { deviceId: deviceId(), deviceType: "web", deviceName: os ? `${browser} on ${os}` : browser, platformVersion: version };
}

// claims decodes the payload of a JWT, for display only (the server checks it).
function claims(jwt) {
  try {
    const b64 = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

// ---- step 1: the phone number ----------------------------------------------

function setupCountries() {
  const select = $("country");
  for (const [iso, name, dial] of [...COUNTRIES].sort((a, b) => a[1].localeCompare(b[1]))) {
    select.add(new Option(`${name} (+${dial})`, iso));
  }
  select.add(new Option("Other…", OTHER));
  const regions = (navigator.languages || [navigator.language]).map((l) => (l.match(/[-_]([A-Za-z]{2})\b/) || [])[1]);
  const found = regions.find((r) => r && COUNTRIES.some((c) => c[0] === r.toUpperCase()));
  select.value = found ? found.toUpperCase() : "US";
  select.addEventListener("change", updateGuidance);
  $("calling-code").addEventListener("input", updateGuidance);
  updateGuidance();
}

function updateGuidance() {
  const iso = $("country").value;
  const c = COUNTRIES.find((c) => c[0] === iso);
  $("other-row").hidden = !!c;
  const code = c ? c[2] : $("calling-code").value.replace(/\D/g, "");
  $("dial").textContent = code ? `+${code}` : "+";
  $("phone").placeholder = c ? c[3] : "";
  $("phone-hint").textContent = !c
    ? "Enter your country calling code above, then your number as you would dial it at home."
    : `For example ${c[3]}.` + (c[4] ? ` Leave out the leading ${c[4]}.` : "") + " You can also paste a number starting with +.";
}

// phoneInput returns the number and country to send, or an error text.
function phoneInput() {
  const raw = $("phone").value.trim();
  const iso = $("country").value;
  if (!/\d/.test(raw)) return { error: "Enter your mobile number." };
  if (raw.startsWith("+")) return { phone: raw, country: iso === OTHER ? "" : iso };
  if (iso !== OTHER) return { phone: raw, country: iso };
  const code = $("calling-code").value.replace(/\D/g, "");
  if (!code) return { error: "Enter your country calling code, such as +49." };
  return { phone: `+${code}${raw.replace(/^0+/, "")}`, country: "" };
}

const channel = () => document.querySelector('input[name="channel"]:checked').value;

async function requestCode(e) {
  e.preventDefault();
  if (state.busy) return;
  $("phone-notice").hidden = true;
  const input = phoneInput();
  if (input.error) return setError("phone-error", input.error, { field: $("phone") });
  setError("phone-error", "", { field: $("phone") });
  const send = $("send");
  state.busy = true;
  send.disabled = true;
  send.textContent = "Sending…";
  const r = await api("/auth/otp/request", { phone: input.phone, country: input.country, deviceId: deviceId(), channel: channel() });
  state.busy = false;
  send.textContent = "Send code";
  send.disabled = false;
  if (!r.ok) return requestFailed(r);
  Object.assign(state, { phone: input.phone, country: input.country });
  codeSent(r.data);
  show("step-code", boxes[0]);
  announce(`Code sent to ${$("sent-to").textContent}. Enter the 6 digits.`);
}

function requestFailed(r) {
  const field = $("phone");
  switch (r.code || String(r.status)) {
    case "rate_limited": case "429": {
      const send = $("send");
      send.disabled = true;
      announce(`Too many requests. Try again in ${plural(r.retryAfter || 1, "second")}.`);
      countdown("send", r.retryAfter || 1, (left) => {
        setError("phone-error", left ? `Too many requests. Try again in ${clock(left)}.` : "", { quiet: true });
        send.disabled = left > 0;
      });
      return;
    }
    case "invalid_phone": case "invalid_country": case "invalid_request":
      return setError("phone-error", `${sentence(r.message)} Check the number and the country.`, { field });
    case "phone_not_allowed":
      return setError("phone-error", `${sentence(r.message)} Use a mobile number.`, { field });
    case "send_failed": case "502":
      return setError("phone-error", "We couldn't send the code. Please try again in a moment.");
    default:
      return setError("phone-error", r.message);
  }
}

// ---- step 2: the code ------------------------------------------------------

function codeSent(data) {
  state.requestId = data.requestId || "";
  state.attemptsLeft = MAX_ATTEMPTS;
  $("sent-to").textContent = data.maskedPhone || state.phone;
  $("sent-by").textContent = data.channel === "whatsapp" ? "on WhatsApp" : "by SMS";
  const dev = data.otp !== undefined && data.otp !== null && data.otp !== "";
  $("dev-note").hidden = !dev;
  $("dev-code").textContent = dev ? String(data.otp).padStart(CODE_LENGTH, "0") : "";
  clearCode();
  setError("code-error", "");
  const resend = $("resend");
  countdown("resend", data.resendAfter ?? 30, (left) => {
    resend.disabled = left > 0;
    resend.textContent = left ? `Resend in ${clock(left)}` : "Resend code";
  });
  countdown("expiry", data.expiresIn ?? 300, (left) => {
    $("code-expiry").textContent = left ? `The code expires in ${clock(left)}.` : "";
    if (!left) setError("code-error", "This code has expired. Request a new one.");
  });
}

function clearCode() {
  boxes.forEach((b) => { b.value = ""; b.removeAttribute("aria-invalid"); });
}

// fill writes digits into the boxes from index from on, moves focus after
// the last one written and submits once all are filled.
function fill(from, text) {
  const digits = text.replace(/\D/g, "").slice(0, CODE_LENGTH - from);
  [...digits].forEach((d, i) => { boxes[from + i].value = d; });
  boxes[Math.min(from + digits.length, CODE_LENGTH - 1)].focus();
  if (digits && boxes.every((b) => b.value)) verify();
}

function setupBoxes() {
  boxes.forEach((box, i) => {
    box.addEventListener("focus", () => box.select());
    box.addEventListener("input", (e) => {
      // One key typed replaces the box; anything longer (autofill of the
      // whole code) is spread over the boxes.
      const text = e.inputType === "insertText" && e.data ? e.data : box.value;
      box.value = "";
      fill(text.replace(/\D/g, "").length >= CODE_LENGTH ? 0 : i, text);
    });
    box.addEventListener("paste", (e) => {
      e.preventDefault();
      const text = (e.clipboardData && e.clipboardData.getData("text")) || "";
      fill(text.replace(/\D/g, "").length >= CODE_LENGTH ? 0 : i, text);
    });
    box.addEventListener("keydown", (e) => {
      if (e.key === "Backspace" && !box.value && i > 0) {
        e.preventDefault();
        boxes[i - 1].value = "";
        boxes[i - 1].focus();
      } else if (e.key === "ArrowLeft" && i > 0) {
        e.preventDefault();
        boxes[i - 1].focus();
      } else if (e.key === "ArrowRight" && i < CODE_LENGTH - 1) {
        e.preventDefault();
        boxes[i + 1].focus();
      }
    });
  });
}

async function verify() {
  if (state.busy) return;
  const otp = boxes.map((b) => b.value).join("");
  if (otp.length !== CODE_LENGTH) {
    boxes.find((b) => !b.value).focus();
    return setError("code-error", `Enter all ${CODE_LENGTH} digits.`);
  }
  state.busy = true;
  $("verify").disabled = true;
  $("verify").textContent = "Verifying…";
  const r = await api("/auth/otp/verify", {
    otpInfo: { phone: state.phone, otp, country: state.country },
    deviceInfo: deviceInfo(),
    requestId: state.requestId || undefined,
  });
  state.busy = false;
  $("verify").disabled = false;
  $("verify").textContent = "Verify";
  if (r.ok) return signedIn(r.data, false);
  clearCode();
  boxes.forEach((b) => b.setAttribute("aria-invalid", "true"));
  boxes[0].focus();
  switch (r.code || String(r.status)) {
    case "invalid_otp": {
      const left = Number.isInteger(r.attemptsLeft) ? r.attemptsLeft : state.attemptsLeft - 1;
      state.attemptsLeft = Math.max(0, left);
      return setError("code-error", state.attemptsLeft > 0
        ? `That code isn't right. ${plural(state.attemptsLeft, "attempt")} left.`
        : "That code isn't right, and it can't be tried again. Request a new one.");
    }
    case "verification_failed": case "no_pending_code":
      stop("expiry");
      $("code-expiry").textContent = "";
      return setError("code-error", "This code has expired or can no longer be used. Request a new one.");
    case "rate_limited": case "429":
      announce(`Too many attempts. Try again in ${plural(r.retryAfter || 1, "second")}.`);
      return countdown("verify-wait", r.retryAfter || 1, (left) => {
        setError("code-error", left ? `Too many attempts. Try again in ${clock(left)}.` : "", { quiet: true });
        $("verify").disabled = left > 0;
      });
    default:
      return setError("code-error", r.message);
  }
}

async function resend() {
  const button = $("resend");
  button.disabled = true;
  const r = await api("/auth/otp/resend", { phone: state.phone, country: state.country, deviceId: deviceId(), channel: channel() });
  if (r.ok) {
    codeSent(r.data);
    boxes[0].focus();
    return announce(`A new code was sent to ${$("sent-to").textContent}.`);
  }
  if (r.code === "rate_limited" || r.status === 429) {
    setError("code-error", "Please wait before asking for another code.");
    return countdown("resend", r.retryAfter || 1, (left) => {
      button.disabled = left > 0;
      button.textContent = left ? `Resend in ${clock(left)}` : "Resend code";
    });
  }
  button.disabled = false;
  setError("code-error", r.message);
}

function changeNumber() {
  stopAll();
  show("step-phone", $("phone"));
}

// ---- step 3: signed in -----------------------------------------------------

function signedIn(data, refreshed) {
  const token = data.token || {};
  const c = claims(token.accessToken || "");
  const now = Date.now();
  // Count down from expiresIn (immune to a skewed local clock), else exp.
  const ttl = Number.isFinite(data.expiresIn) ? data.expiresIn : Math.max(0, (c.exp || 0) - now / 1000);
  const s = state.session || { refreshes: 0 };
  state.session = { ...s, refreshToken: token.refreshToken, refreshes: s.refreshes + (refreshed ? 1 : 0) };
  const user = data.user || {};
  $("user-phone").textContent = user.phone || c.phone || state.phone;
  $("user-id").textContent = user.id || c.sub || "";
  $("session-id").textContent = (token.currentDevice && token.currentDevice.id) || c.sid || "";
  $("done-lead").textContent = user.isNewUser ? "Welcome! Your account was just created." : "Welcome back.";
  $("token-at").textContent = c.exp ? `at ${new Date(c.exp * 1000).toLocaleTimeString()}` : "";
  $("claims").textContent = JSON.stringify(c, null, 2);
  countdown("token", Math.round(ttl), (left) => { $("token-left").textContent = left ? `in ${clock(left)}` : "now"; });
  // Refresh a fifth of the lifetime before expiry, at most a minute early.
  const early = Math.min(60, ttl / 5);
  const when = `automatically ${early >= 60 ? "a minute" : plural(Math.round(early), "second")} before expiry`;
  const n = state.session.refreshes;
  $("refreshes").textContent = n ? `Refreshed ${plural(n, "time")}, ${when}` : when[0].toUpperCase() + when.slice(1);
  stop("refresh");
  timers.refresh = setTimeout(refresh, Math.max(1, ttl - early) * 1000);
  if (!refreshed) {
    stop("resend"); stop("expiry"); stop("verify-wait");
    show("step-done");
    announce("You're signed in.");
  }
}

async function refresh() {
  // One refresh at a time: a second one with the same, by then rotated,
  // refresh token would look like token theft and end the session.
  if (!state.session || state.refreshing) return;
  stop("refresh");
  state.refreshing = true;
  $("refresh").disabled = true;
  const r = await api("/auth/token/refresh", { refreshToken: state.session.refreshToken });
  state.refreshing = false;
  $("refresh").disabled = false;
  if (!state.session) return; // signed out meanwhile
  if (r.ok) return signedIn(r.data, true);
  if (r.status === 0 || r.status === 429 || r.status >= 500) {
    timers.refresh = setTimeout(refresh, Math.max(r.retryAfter, 5) * 1000); // try again
    $("refreshes").textContent = "Couldn't refresh the token; trying again shortly.";
    return;
  }
  signedOut("Your session has ended. Please sign in again.");
}

async function signOut() {
  const button = $("sign-out");
  button.disabled = true;
  const r = await api("/auth/logout", { refreshToken: state.session.refreshToken });
  button.disabled = false;
  // Forget the tokens whatever the answer: the page is signed out.
  signedOut(r.ok || r.status === 401 ? "You're signed out." : "You're signed out here, but the server could not be told.");
}

function signedOut(message) {
  stopAll();
  state.session = null;
  clearCode();
  const notice = $("phone-notice");
  notice.textContent = message;
  notice.hidden = false;
  show("step-phone", $("phone"));
  announce(message);
}

// ---- wiring ----------------------------------------------------------------

setupCountries();
setupBoxes();
$("phone-form").addEventListener("submit", requestCode);
$("code-form").addEventListener("submit", (e) => { e.preventDefault(); verify(); });
$("resend").addEventListener("click", resend);
$("change").addEventListener("click", changeNumber);
$("refresh").addEventListener("click", refresh);
$("sign-out").addEventListener("click", signOut);
$("phone").focus();
