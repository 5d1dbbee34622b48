// Sign-in page of the phoneauth example server: request a code, enter it,
// stay signed in by refreshing the access token, sign out. No framework and
// no build step; it talks only to the library's JSON routes on this origin.
//
// The flow survives Back, Forward and reload: every step is a history entry,
// and the number and the pending request (its id, expiry and resend time,
// attempts left; never the code) are kept in sessionStorage for this tab.
// Entering again, during the resend cooldown, the number a code was just sent
// to returns to the code step without asking the server, which would refuse
// a second code that soon. Tokens stay in memory: a reload signs out of the
// page (not of the server).
"use strict";

const CODE_LENGTH = 6;
const MAX_ATTEMPTS = 5; // phoneauth's default Config.MaxAttempts
const REQUEST_TIMEOUT_MS = 15000;
const STORAGE_KEY = "phoneauth.signin";
const TITLES = { phone: "Sign in", code: "Enter your code", done: "Signed in" };
const SITE = "phoneauth example";

const $ = (id) => document.getElementById(id);
const boxes = Array.from({ length: CODE_LENGTH }, (_, i) => $(`digit-${i + 1}`));

// regions: [{code, name, cc, example, trunk, main}] from /assets/countries.json.
let regions = [];
const state = {
  region: null, // the picked region
  request: null, // the pending code: see saveRequest
  otp: "", // the code itself, in development mode only; never stored
  busy: false,
  refreshing: false,
  session: null, // tokens, in memory only
  webOTP: null, // AbortController of a pending WebOTP request
};
const timers = {};

// ---- helpers ---------------------------------------------------------------

// api POSTs body as JSON and unwraps the envelope {success, message, code,
// data}. A network failure is status 0, code "network"; no answer within
// REQUEST_TIMEOUT_MS is status 0, code "timeout".
async function api(path, body) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  const failed = (code, message) => ({ ok: false, status: 0, code, message, data: {}, retryAfter: 0 });
  let res;
  let env = {};
  try {
    res = await fetch(path, {
      method: "POST", cache: "no-store", signal: abort.signal,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    try { env = await res.json(); } catch { /* not JSON: use the status */ }
  } catch {
    return abort.signal.aborted
      ? failed("timeout", `The server didn't answer within ${REQUEST_TIMEOUT_MS / 1000} seconds. Check your connection and try again.`)
      : failed("network", "Can't reach the server. Check your connection and try again.");
  } finally {
    clearTimeout(timer);
  }
  return {
    ok: res.ok && env.success !== false,
    status: res.status,
    code: env.code || "",
    message: env.message || `Request failed (${res.status})`,
    data: env.data || {},
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
// until the time end (milliseconds since the epoch). A new countdown under
// the same name replaces the old one.
function countdown(name, end, tick) {
  stop(name);
  let last = -1;
  const step = () => {
    const left = secondsUntil(end);
    if (left !== last) { last = left; tick(left); }
    if (left === 0) stop(name);
  };
  timers[name] = setInterval(step, 200);
  step();
}
function stop(name) { clearInterval(timers[name]); clearTimeout(timers[name]); delete timers[name]; }
function stopAll() { Object.keys(timers).forEach(stop); }

const secondsUntil = (t) => Math.max(0, Math.ceil((t - Date.now()) / 1000));
const sentence = (s) => (/[.!?]$/.test(s) ? s : `${s}.`);
const clock = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const digitsOf = (s) => s.replace(/\D/g, "");

// announce has screen readers read progress politely; announceError
// interrupts them for errors.
function announce(text) { speak($("status"), text); }
function announceError(text) { speak($("alert"), text); }
function speak(el, text) {
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

// setError shows text under a field (and announces it at once unless quiet); an empty
// text hides it.
function setError(id, text, { field, quiet } = {}) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
  if (field) field.setAttribute("aria-invalid", text ? "true" : "false");
  if (text && !quiet) announceError(text);
}

// enable makes a button usable or not. aria-disabled, unlike disabled,
// keeps the focus on the button, so Enter on "Send code" does not drop the
// keyboard user to the top of the page; every handler checks it.
function enable(button, on) {
  button.setAttribute("aria-disabled", on ? "false" : "true");
}
const enabled = (button) => button.getAttribute("aria-disabled") !== "true";

// working shows a spinner and aria-busy on a button while fn runs, with
// label as its text, and keeps state.busy for the time.
async function working(button, label, fn) {
  const text = button.textContent;
  state.busy = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  enable(button, false);
  try {
    return await fn();
  } finally {
    state.busy = false;
    button.removeAttribute("aria-busy");
    if (button.textContent === label) button.textContent = text;
    enable(button, true);
  }
}

// ---- steps and history -----------------------------------------------------

// show displays a step, names it in the title, and records it in history:
// "push" adds an entry (Back returns to the step before), "replace" rewrites
// the current one, "none" leaves history alone (popstate).
function show(step, { focus, history: how = "push" } = {}) {
  for (const s of ["phone", "code", "done"]) $(`step-${s}`).hidden = s !== step;
  document.title = `${TITLES[step]} · ${SITE}`;
  if (how === "push" && (history.state || {}).step !== step) history.pushState({ step }, "");
  else if (how !== "none") history.replaceState({ step }, "");
  if (step !== "code") leaveCode();
  (focus || $(`step-${step}`).querySelector("h1")).focus();
}

// Back and Forward move between the steps. Once signed in, the earlier
// steps are spent: going back shows the signed-in step again.
function onPopState(e) {
  const step = (e.state || {}).step || "phone";
  if (state.session) return show("done", { history: "replace" });
  if (step === "code" && state.request) return showCode({ history: "none" });
  showPhone({ history: step === "phone" ? "none" : "replace" });
}

function showPhone(opts = {}) {
  show("phone", { focus: $("phone"), ...opts });
}

// save keeps what survives a reload in sessionStorage: the region, the
// number as typed, the channel and the pending request.
function save() {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({
      region: state.region && state.region.code,
      number: $("phone").value,
      channel: channel(),
      request: state.request,
    }));
  } catch { /* storage blocked: the flow still works without reloads */ }
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY)) || {};
  } catch {
    return {};
  }
}

// ---- device ----------------------------------------------------------------

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

// ---- phone numbers ---------------------------------------------------------

// loadRegions fetches the regions and names them in the reader's language.
async function loadRegions() {
  const res = await fetch("/assets/countries.json");
  if (!res.ok) throw new Error(`countries.json: ${res.status}`);
  let names = null;
  try { names = new Intl.DisplayNames([...(navigator.languages || []), "en"], { type: "region" }); } catch { /* codes only */ }
  const name = (code) => { try { return (names && names.of(code)) || code; } catch { return code; } };
  regions = (await res.json())
    .map(([code, cc, example, trunk, main]) => ({ code, name: name(code), cc: String(cc), example, trunk, main: !!main }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const regionByCode = (code) => regions.find((r) => r.code === code);

// regionForDigits finds the calling code that digits (typed after "+")
// start with: calling codes are prefix-free, so at most one matches. The
// picked region wins if it has that code, else the code's main region.
function regionForDigits(digits) {
  for (let n = 1; n <= 3 && n <= digits.length; n++) {
    const cc = digits.slice(0, n);
    const all = regions.filter((r) => r.cc === cc);
    if (all.length) return all.find((r) => r === state.region) || all.find((r) => r.main) || all[0];
  }
  return null;
}

// group lays digits out like the region's example number ("7400 123456"):
// the same group sizes and separators, any extra digits on the last group.
// A leading trunk prefix stays in front ("07400 123456").
function group(digits, region) {
  let trunk = "";
  if (region.trunk && digits.startsWith(region.trunk) && digits.length > region.trunk.length) {
    trunk = region.trunk + (region.trunk === "0" ? "" : " ");
    digits = digits.slice(region.trunk.length);
  }
  const parts = region.example.match(/\d+|\D+/g) || [];
  let out = "";
  let rest = digits;
  for (const part of parts) {
    if (!rest) break;
    if (/\d/.test(part)) {
      out += rest.slice(0, part.length);
      rest = rest.slice(part.length);
    } else {
      out += part;
    }
  }
  return trunk + out + rest;
}

// nationalNumber drops a leading trunk prefix from digits.
function nationalNumber(digits, region) {
  return region.trunk && digits.startsWith(region.trunk) ? digits.slice(region.trunk.length) : digits;
}

// display writes an international number for people: "+1 201-555-0123".
function display(e164) {
  const digits = digitsOf(e164);
  const region = regionForDigits(digits);
  return region ? `+${region.cc} ${group(digits.slice(region.cc.length), { ...region, trunk: "" })}` : e164;
}

// phoneInput returns what to send for the number in the field, with the
// number in E.164 as the page understands it (key: to recognise the same
// number), or an error text.
function phoneInput() {
  const raw = $("phone").value.trim();
  const digits = digitsOf(raw);
  if (!digits) return { error: "Enter your mobile number." };
  if (raw.startsWith("+")) return { phone: raw, country: "", key: `+${digits}` };
  if (!state.region) return { error: "Choose your country, or type your number starting with + and the country code." };
  const key = `+${state.region.cc}${nationalNumber(digits, state.region)}`;
  return { phone: digits, country: state.region.code, key };
}

// onPhoneInput formats the number as it is typed and, when it starts with
// "+" and a known calling code, switches the country to it and keeps the
// rest. The caret stays after the same digit.
let lastDigits = "";
function onPhoneInput(e) {
  const field = $("phone");
  let value = field.value;
  let caretDigits = digitsOf(value.slice(0, field.selectionStart ?? value.length)).length;
  let digits = digitsOf(value);
  // Backspace or Delete on a separator removes the digit beyond it.
  if (e && digits === lastDigits) {
    if (e.inputType === "deleteContentBackward" && caretDigits > 0) {
      digits = digits.slice(0, caretDigits - 1) + digits.slice(caretDigits);
      caretDigits--;
    } else if (e.inputType === "deleteContentForward") {
      digits = digits.slice(0, caretDigits) + digits.slice(caretDigits + 1);
    }
  }
  if (value.trimStart().startsWith("+")) {
    const region = regionForDigits(digits);
    if (!region) {
      $("dial").hidden = true;
      lastDigits = digits;
      return save();
    }
    if (region !== state.region) pickRegion(region, { silent: true });
    digits = digits.slice(region.cc.length);
    caretDigits = Math.max(0, caretDigits - region.cc.length);
  }
  $("dial").hidden = false;
  value = state.region ? group(digits, state.region) : digits;
  field.value = value;
  let caret = 0;
  for (let seen = 0; caret < value.length && seen < caretDigits; caret++) if (/\d/.test(value[caret])) seen++;
  if (document.activeElement === field) field.setSelectionRange(caret, caret);
  lastDigits = digits;
  setError("phone-error", "", { field });
  save();
}

// ---- the country picker ----------------------------------------------------

// The picker is a button that opens a search box over a list of every
// region: type a name, a region code or a calling code ("+44"), move with
// the arrow keys, Enter to choose, Escape to close.
const fold = (s) => s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

function setupPicker() {
  const list = $("country-list");
  for (const r of regions) {
    const li = document.createElement("li");
    li.id = `region-${r.code}`;
    li.setAttribute("role", "option");
    li.dataset.code = r.code;
    li.dataset.search = `${fold(r.name)} ${r.code.toLowerCase()}`;
    const name = document.createElement("span");
    name.textContent = r.name;
    const cc = document.createElement("span");
    cc.className = "muted";
    cc.textContent = `+${r.cc}`;
    li.append(name, cc);
    list.append(li);
  }
  $("country").addEventListener("click", () => (pickerOpen() ? closePicker() : openPicker()));
  $("country").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); openPicker(); }
  });
  const search = $("country-search");
  search.addEventListener("input", filterPicker);
  search.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); moveActive(e.key === "ArrowDown" ? 1 : -1); }
    else if (e.key === "Enter") { e.preventDefault(); const a = activeOption(); if (a) choose(a.dataset.code); }
    else if (e.key === "Escape") { e.preventDefault(); closePicker(); $("country").focus(); }
    else if (e.key === "Tab") closePicker();
  });
  list.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the search box
  list.addEventListener("click", (e) => { const li = e.target.closest("[role=option]"); if (li) choose(li.dataset.code); });
  document.addEventListener("mousedown", (e) => { if (pickerOpen() && !e.target.closest(".picker")) closePicker(); });
}

const pickerOpen = () => !$("country-popup").hidden;
const visibleOptions = () => [...$("country-list").children].filter((li) => !li.hidden);
const activeOption = () => $("country-list").querySelector(".active");

function openPicker() {
  $("country-popup").hidden = false;
  $("country").setAttribute("aria-expanded", "true");
  const search = $("country-search");
  search.value = "";
  filterPicker();
  if (state.region) setActive($(`region-${state.region.code}`));
  search.focus();
}

function closePicker() {
  $("country-popup").hidden = true;
  $("country").setAttribute("aria-expanded", "false");
}

function filterPicker() {
  const q = fold($("country-search").value.trim());
  const cc = /^\+?\d+$/.test(q) ? digitsOf(q) : "";
  let first = null;
  let n = 0;
  for (const li of $("country-list").children) {
    const r = regionByCode(li.dataset.code);
    li.hidden = !!q && !(cc ? r.cc.startsWith(cc) : li.dataset.search.includes(q));
    if (!li.hidden) { n++; first ||= li; }
  }
  $("country-none").hidden = n > 0;
  setActive(first);
  announce(q ? plural(n, "country") + " found." : "");
}

function setActive(li) {
  const old = activeOption();
  if (old) old.classList.remove("active");
  const search = $("country-search");
  if (!li) return search.removeAttribute("aria-activedescendant");
  li.classList.add("active");
  search.setAttribute("aria-activedescendant", li.id);
  li.scrollIntoView({ block: "nearest" });
}

function moveActive(by) {
  const options = visibleOptions();
  if (!options.length) return;
  const i = options.indexOf(activeOption());
  setActive(options[Math.min(options.length - 1, Math.max(0, i + by))]);
}

// choose picks a region from the list and moves on to the number.
function choose(code) {
  pickRegion(regionByCode(code));
  closePicker();
  const field = $("phone");
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
}

// pickRegion makes region the country of the number: the button, the dial
// prefix, the example, the list's selection, and the number regrouped.
function pickRegion(region, { silent } = {}) {
  state.region = region;
  $("country-name").textContent = region.name;
  $("country-code").textContent = `+${region.cc}`;
  $("dial").textContent = `+${region.cc}`;
  for (const li of $("country-list").children) li.setAttribute("aria-selected", String(li.dataset.code === region.code));
  const field = $("phone");
  field.placeholder = region.example;
  $("phone-hint").textContent = [
    region.example && `For example ${region.example}.`,
    region.trunk && `The leading ${region.trunk} is optional.`,
    "You can also type or paste a number starting with +.",
  ].filter(Boolean).join(" ");
  if (!silent) {
    if (!field.value.trim().startsWith("+")) field.value = group(digitsOf(field.value), region);
    announce(`${region.name}, +${region.cc}.`);
  }
  save();
}

// defaultRegion is the saved region, else the one of the browser's
// language (en-PK: Pakistan), else the United States.
function defaultRegion(saved) {
  const fromLanguage = (navigator.languages || [navigator.language])
    .map((l) => ((l || "").match(/[-_]([A-Za-z]{2})\b/) || [])[1])
    .find((r) => r && regionByCode(r.toUpperCase()));
  return regionByCode(saved || "") || regionByCode((fromLanguage || "").toUpperCase()) || regionByCode("US") || regions[0];
}

// ---- step 1: the phone number ----------------------------------------------

const channel = () => document.querySelector('input[name="channel"]:checked').value;

async function requestCode(e) {
  e.preventDefault();
  const send = $("send");
  if (state.busy || !enabled(send)) return;
  $("phone-notice").hidden = true;
  const input = phoneInput();
  if (input.error) return setError("phone-error", input.error, { field: $("phone") });
  setError("phone-error", "", { field: $("phone") });

  // The same number again while the code just sent to it is still good
  // and a new one would be refused: back to that code, no request.
  const req = state.request;
  if (req && req.key === input.key && Date.now() < req.resendAt && Date.now() < req.expiresAt) {
    showCode({ focus: boxes[0], already: true });
    return announce(`We already sent a code to ${req.shown}. You can ask for a new one in ${plural(secondsUntil(req.resendAt), "second")}.`);
  }
  const r = await working(send, "Sending…", () => api("/auth/otp/request",
    { phone: input.phone, country: input.country, deviceId: deviceId(), channel: channel() }));
  if (!r.ok) return requestFailed(r);
  codeSent(r.data, input);
  showCode({ focus: boxes[0] });
  announce(`Code sent to ${state.request.shown}. Enter the 6 digits.`);
}

function requestFailed(r) {
  const field = $("phone");
  switch (r.code || String(r.status)) {
    case "rate_limited": case "429": {
      const send = $("send");
      announceError(`Too many requests. Try again in ${plural(r.retryAfter || 1, "second")}.`);
      countdown("send", Date.now() + (r.retryAfter || 1) * 1000, (left) => {
        setError("phone-error", left ? `Too many requests. Try again in ${clock(left)}.` : "", { quiet: true });
        enable(send, left === 0);
      });
      return;
    }
    case "invalid_phone": case "invalid_request":
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

// codeSent records a new pending code; input is what was sent (phone,
// country, key), data the server's answer.
function codeSent(data, input) {
  const now = Date.now();
  state.request = {
    phone: input.phone, country: input.country, key: input.key,
    shown: display(input.key),
    requestId: data.requestId || "",
    channel: data.channel || channel(),
    expiresAt: now + (data.expiresIn ?? 300) * 1000,
    resendAt: now + (data.resendAfter ?? 30) * 1000,
    attemptsLeft: MAX_ATTEMPTS,
  };
  state.otp = data.otp !== undefined && data.otp !== null && data.otp !== "" ? String(data.otp).padStart(CODE_LENGTH, "0") : "";
  save();
}

// showCode shows the code step for state.request: fresh, after Back and
// Forward, after a reload, or once its attempts or time have run out.
function showCode(opts = {}) {
  const req = state.request;
  $("sent-to").textContent = req.shown;
  $("sent-by").textContent = req.channel === "whatsapp" ? "on WhatsApp" : "by SMS";
  $("sent-lead").textContent = opts.already ? "We already sent a code" : "Code sent";
  $("dev-note").hidden = !state.otp;
  $("dev-code").textContent = state.otp;
  clearCode();
  setError("code-error", "");
  stop("verify-wait");
  show("code", opts);
  lockCode(false);
  countdown("resend", req.resendAt, resendTick);
  if (req.unusable) return unusable();
  if (req.attemptsLeft <= 0) return outOfAttempts();
  countdown("expiry", req.expiresAt, (left) => {
    $("code-expiry").textContent = left ? `The code expires in ${clock(left)}.` : "";
    if (!left) expired();
  });
  if (Date.now() >= req.expiresAt) return;
  listenForWebOTP();
}

// resendTick shows how long until a new code may be asked for: "Resend in
// 0:28", then "Resend code"; once the code is used up, "New code in 0:12",
// then "Send a new code".
function resendTick(left) {
  const button = $("resend");
  const usable = codeUsable();
  enable(button, left === 0);
  button.textContent = left ? `${usable ? "Resend" : "New code"} in ${clock(left)}` : usable ? "Resend code" : "Send a new code";
}
const codeUsable = () => state.request && !state.request.unusable && state.request.attemptsLeft > 0 && Date.now() < state.request.expiresAt;

// lockCode makes the boxes and Verify unusable (the code can no longer be
// used, or is being checked), or usable again. Read-only boxes keep focus.
function lockCode(locked) {
  boxes.forEach((b) => { b.readOnly = locked; });
  enable($("verify"), !locked);
}

// outOfAttempts, expired and unusable (the server has no such code any
// more) end the code: boxes locked, countdown stopped, the way on is a new
// code.
function outOfAttempts() {
  endCode("That code isn't right, and no attempts are left. Send a new code.");
}
function expired() {
  endCode("This code has expired. Send a new code.");
}
function unusable() {
  endCode("This code can no longer be used. Send a new code.");
}
function endCode(message) {
  stop("expiry");
  stopWebOTP();
  $("code-expiry").textContent = "";
  lockCode(true);
  setError("code-error", message);
  resendTick(secondsUntil(state.request.resendAt));
  $("resend").focus();
}

function clearCode() {
  boxes.forEach((b) => { b.value = ""; b.removeAttribute("aria-invalid"); });
}

// leaveCode stops what the code step runs when another step is shown.
function leaveCode() {
  stop("resend"); stop("expiry"); stop("verify-wait");
  stopWebOTP();
}

// fill writes digits into the boxes from index from on, moves focus after
// the last one written and submits once all are filled.
function fill(from, text) {
  if (boxes[0].readOnly) return;
  const digits = digitsOf(text).slice(0, CODE_LENGTH - from);
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
      fill(digitsOf(text).length >= CODE_LENGTH ? 0 : i, text);
    });
    box.addEventListener("paste", (e) => {
      e.preventDefault();
      const text = (e.clipboardData && e.clipboardData.getData("text")) || "";
      fill(digitsOf(text).length >= CODE_LENGTH ? 0 : i, text);
    });
    box.addEventListener("keydown", (e) => {
      if (e.key === "Backspace" && !box.value && i > 0 && !box.readOnly) {
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

// listenForWebOTP lets the browser read the code from the SMS when the
// server adds the WebOTP line ("@host #123456") to its messages.
function listenForWebOTP() {
  const domain = document.querySelector('meta[name="phoneauth-webotp"]').content;
  if (!domain || !("OTPCredential" in window) || state.request.channel !== "sms") return;
  stopWebOTP();
  const abort = new AbortController();
  state.webOTP = abort;
  navigator.credentials.get({ otp: { transport: ["sms"] }, signal: abort.signal })
    .then((cred) => { if (state.webOTP === abort && cred && cred.code) fill(0, cred.code); })
    .catch(() => { /* aborted, refused or unsupported: type the code */ });
}
function stopWebOTP() {
  if (state.webOTP) state.webOTP.abort();
  state.webOTP = null;
}

async function verify() {
  const button = $("verify");
  if (state.busy || boxes[0].readOnly || !enabled(button)) return;
  const otp = boxes.map((b) => b.value).join("");
  if (otp.length !== CODE_LENGTH) {
    boxes.find((b) => !b.value).focus();
    return setError("code-error", `Enter all ${CODE_LENGTH} digits.`);
  }
  const req = state.request;
  setError("code-error", "");
  announce("Checking the code…");
  lockCode(true);
  $("code-form").setAttribute("aria-busy", "true");
  const r = await working(button, "Verifying…", () => api("/auth/otp/verify", {
    otpInfo: { phone: req.phone, otp, country: req.country },
    deviceInfo: deviceInfo(),
    requestId: req.requestId || undefined,
  }));
  $("code-form").removeAttribute("aria-busy");
  lockCode(false);
  if (r.ok) return signedIn(r.data, false);
  if (r.status === 0) return setError("code-error", r.message); // keep the digits: Verify tries again
  clearCode();
  boxes.forEach((b) => b.setAttribute("aria-invalid", "true"));
  switch (r.code || String(r.status)) {
    case "invalid_otp":
      req.attemptsLeft = Math.max(0, req.attemptsLeft - 1);
      save();
      if (req.attemptsLeft === 0) return outOfAttempts();
      boxes[0].focus();
      return setError("code-error", `That code isn't right. ${plural(req.attemptsLeft, "attempt")} left.`);
    case "verification_failed": case "no_pending_code":
      req.unusable = true;
      save();
      return unusable();
    case "rate_limited": case "429":
      announceError(`Too many attempts. Try again in ${plural(r.retryAfter || 1, "second")}.`);
      return countdown("verify-wait", Date.now() + (r.retryAfter || 1) * 1000, (left) => {
        setError("code-error", left ? `Too many attempts. Try again in ${clock(left)}.` : "", { quiet: true });
        enable(button, left === 0);
      });
    default:
      boxes[0].focus();
      return setError("code-error", r.message);
  }
}

// resend asks for a new code for the pending request; once the old code
// has expired the server has nothing to resend, so it asks afresh.
async function resend() {
  const button = $("resend");
  const req = state.request;
  if (state.busy || !enabled(button) || !req) return;
  const body = { phone: req.phone, country: req.country, deviceId: deviceId(), channel: req.channel };
  const r = await working(button, "Sending…", async () => {
    const first = await api("/auth/otp/resend", body);
    return first.code === "no_pending_code" ? api("/auth/otp/request", body) : first;
  });
  if (r.ok) {
    codeSent(r.data, req);
    showCode({ focus: boxes[0], history: "replace" });
    return announce(`A new code was sent to ${state.request.shown}.`);
  }
  if (r.code === "rate_limited" || r.status === 429) {
    setError("code-error", "Please wait before asking for another code.");
    req.resendAt = Date.now() + (r.retryAfter || 1) * 1000;
    save();
    return countdown("resend", req.resendAt, resendTick);
  }
  setError("code-error", r.message);
}

// changeNumber goes back to the number; Back does the same.
function changeNumber() {
  if ((history.state || {}).step === "code") history.back();
  else showPhone();
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
  $("user-phone").textContent = display(user.phone || c.phone || (state.request && state.request.key) || "");
  $("user-id").textContent = user.id || c.sub || "";
  $("session-id").textContent = (token.currentDevice && token.currentDevice.id) || c.sid || "";
  $("done-lead").textContent = user.isNewUser ? "Welcome! Your account was just created." : "Welcome back.";
  $("token-at").textContent = c.exp ? `at ${new Date(c.exp * 1000).toLocaleTimeString()}` : "";
  $("claims").textContent = JSON.stringify(c, null, 2);
  countdown("token", now + Math.round(ttl) * 1000, (left) => { $("token-left").textContent = left ? `in ${clock(left)}` : "now"; });
  // Refresh a fifth of the lifetime before expiry, at most a minute early.
  const early = Math.min(60, ttl / 5);
  const when = `automatically ${early >= 60 ? "a minute" : plural(Math.round(early), "second")} before expiry`;
  const n = state.session.refreshes;
  $("refreshes").textContent = n ? `Refreshed ${plural(n, "time")}, ${when}` : when[0].toUpperCase() + when.slice(1);
  stop("refresh");
  timers.refresh = setTimeout(refresh, Math.max(1, ttl - early) * 1000);
  if (!refreshed) {
    // The code is spent: forget it, and let Back not return to it.
    state.request = null;
    state.otp = "";
    save();
    show("done", { history: "replace" });
    announce("You're signed in.");
  }
}

async function refresh() {
  // One refresh at a time: a second one with the same, by then rotated,
  // refresh token would look like token theft and end the session.
  if (!state.session || state.refreshing) return;
  stop("refresh");
  state.refreshing = true;
  enable($("refresh"), false);
  const r = await api("/auth/token/refresh", { refreshToken: state.session.refreshToken });
  state.refreshing = false;
  enable($("refresh"), true);
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
  if (state.busy || !enabled(button)) return;
  const r = await working(button, "Signing out…", () => api("/auth/logout", { refreshToken: state.session.refreshToken }));
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
  showPhone({ history: "replace" });
  announce(message);
}

// ---- wiring ----------------------------------------------------------------

async function start() {
  const saved = load();
  state.request = saved.request && Date.now() < saved.request.expiresAt ? saved.request : null;
  $("phone").value = saved.number || "";
  for (const radio of document.querySelectorAll('input[name="channel"]')) radio.checked = radio.value === (saved.channel || "sms");
  try {
    await loadRegions();
  } catch {
    setError("phone-error", "The list of countries didn't load. Type your number starting with + and the country code.", { quiet: true });
  }
  setupPicker();
  if (regions.length) pickRegion(defaultRegion(saved.region), { silent: true });
  if ($("phone").value && regions.length) onPhoneInput(); // regroup, show or hide the dial prefix
  if ((history.state || {}).step === "code" && state.request) showCode({ focus: boxes[0], history: "replace" });
  else showPhone({ history: "replace" });
  document.documentElement.dataset.ready = "true";
}

setupBoxes();
$("phone").addEventListener("input", onPhoneInput);
$("phone-form").addEventListener("submit", requestCode);
$("phone-form").addEventListener("change", (e) => { if (e.target.name === "channel") save(); });
$("code-form").addEventListener("submit", (e) => { e.preventDefault(); verify(); });
$("resend").addEventListener("click", resend);
$("change").addEventListener("click", changeNumber);
$("refresh").addEventListener("click", () => { if (enabled($("refresh"))) refresh(); });
$("sign-out").addEventListener("click", signOut);
window.addEventListener("popstate", onPopState);
start();
