package phoneauth

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf16"
)

// A Channel is how a code reaches a phone.
type Channel string

// The channels phoneauth knows.
const (
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
)

// A Message is one code on its way to a phone.
type Message struct {
	// To is the E.164 phone number.
	To string
	// Channel is SMS or WhatsApp.
	Channel Channel
	// Text is the rendered message (see Config.Templates).
	Text string
	// Code is the one-time code itself, for senders that fill a provider's
	// template (WhatsApp authentication templates) or a caller's own
	// delivery service. A Sender must never log it.
	Code string
	// ChallengeID identifies the challenge (useful as an idempotency key).
	ChallengeID string
	// ExpiresAt is when the code expires.
	ExpiresAt time.Time
	// Locale is the client's preferred language (BCP 47), if known.
	Locale string
}

// A Sender delivers messages. Send returns the provider's message id.
// A Sender must be safe for concurrent use.
//
// A Sender that may send a message on another channel than m.Channel (a
// fallback from WhatsApp to SMS) should also implement SendReporter, so
// that the channel actually used reaches RequestResult.Channel and the
// events.
type Sender interface {
	Send(ctx context.Context, m Message) (messageID string, err error)
}

// SenderFunc adapts a function to the Sender interface.
type SenderFunc func(ctx context.Context, m Message) (string, error)

// Send calls f(ctx, m).
func (f SenderFunc) Send(ctx context.Context, m Message) (string, error) { return f(ctx, m) }

// Sent is what a SendReporter reports about a message it sent.
type Sent struct {
	// MessageID is the provider's message id, as Send returns it.
	MessageID string
	// Channel is the channel the message went out on, which may differ
	// from Message.Channel (SMS after a WhatsApp send failed). Empty means
	// Message.Channel.
	Channel Channel
}

// A SendReporter is a Sender that also reports which channel a message
// went out on. The Authenticator checks its Sender for this interface, as
// net/http checks a ResponseWriter for http.Flusher: a plain Sender is
// taken to use the channel asked for, and a SendReporter's SendReport is
// called instead of Send. The channel reported is what RequestResult.Channel
// (and so the HTTP response's "channel") and the EventCodeSent event say;
// delivery.ByChannel reports SMS after a fallback.
//
// SendReport sends m exactly as Send would; it only says more. When it
// fails, Sent.Channel may still name the channel tried last (whose failure
// is the error returned), and the failure events report it; the MessageID
// is then ignored.
//
// A Sender that wraps another (for metrics or tracing) loses the wrapped
// Sender's report unless it implements SendReporter too and sends with the
// function SendReport. delivery.Async, which answers before the real send,
// cannot report the channel to the Authenticator, but sends with
// SendReport so that its own delivery events carry it.
type SendReporter interface {
	Sender
	SendReport(ctx context.Context, m Message) (Sent, error)
}

// SendReport sends m through s and reports how: with s.SendReport if s is a
// SendReporter, else with s.Send on m.Channel. An empty Channel in the
// report is filled in with m.Channel, on success and on failure, so the
// result names the channel used (or tried last).
func SendReport(ctx context.Context, s Sender, m Message) (Sent, error) {
	if r, ok := s.(SendReporter); ok {
		sent, err := r.SendReport(ctx, m)
		if sent.Channel == "" {
			sent.Channel = m.Channel
		}
		return sent, err
	}
	id, err := s.Send(ctx, m)
	return Sent{MessageID: id, Channel: m.Channel}, err
}

// DefaultTemplate is the message template used for every locale that
// Config.Templates does not cover.
const DefaultTemplate = "Your {{.AppName}} code is {{.Code}}. It expires in {{.Minutes}} minutes."

// Templates maps BCP 47 locales ("pt-BR", "pt", "en") to text/template
// sources that render the message text; the key "" is the default, used
// when no locale matches (DefaultTemplate if absent). A template must print
// {{.Code}}, the code; it may print {{.AppName}} (Config.AppName) and
// {{.Minutes}} (the code's validity in whole minutes, rounded up).
//
// A locale is looked up case-insensitively and then by dropping subtags from
// the end, so a client asking for "pt-BR" gets "pt-BR", else "pt", else "".
// An underscore is read as a hyphen ("pt_BR"). New checks every template
// once, and logs a warning for a template whose message does not fit one
// SMS segment (160 GSM-7 characters, or 70 UCS-2 ones as soon as one
// character is outside GSM-7).
//
//	cfg.Templates = phoneauth.Templates{
//		"":   "{{.Code}} is your {{.AppName}} code. Valid {{.Minutes}} min.",
//		"pt": "{{.Code}} é o seu código {{.AppName}}. Válido por {{.Minutes}} min.",
//	}
type Templates map[string]string

// templateData is what a message template is executed with.
type templateData struct {
	// AppName is Config.AppName.
	AppName string
	// Code is the one-time code.
	Code string
	// Minutes is the code's validity in whole minutes, rounded up.
	Minutes int
	// Phone is the new number, masked, in a phone-change notice.
	Phone string
}

// messageRenderer renders message text per locale from templates that were
// parsed and checked once. It is safe for concurrent use.
type messageRenderer struct {
	templates    map[string]*template.Template // by normalised locale
	appName      string
	webOTPDomain string
}

// sampleMinutes is the validity the templates are checked with: two digits,
// as a plausible worst case for the message length.
const sampleMinutes = 10

// newMessageRenderer parses t (DefaultTemplate where t has no "" entry) and
// checks each template by rendering a sample message: a template that fails
// to parse or execute, or does not print the code, is an error matching
// ErrInvalidConfig. A sample that needs more than one SMS segment is logged
// as a warning (without the text). webOTPDomain, if set, must be a host name.
func newMessageRenderer(t Templates, appName, webOTPDomain string, codeLength int, log *slog.Logger) (*messageRenderer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if codeLength <= 0 {
		codeLength = defaultCodeLength
	}
	if webOTPDomain != "" && !validWebOTPDomain(webOTPDomain) {
		return nil, fmt.Errorf("%w: WebOTPDomain %q is not a host name", ErrInvalidConfig, webOTPDomain)
	}
	r := &messageRenderer{
		appName:      appName,
		webOTPDomain: webOTPDomain,
	}
	var err error
	if r.templates, err = parseTemplates(t, DefaultTemplate, "template"); err != nil {
		return nil, err
	}
	// Two fixed sample codes: a template prints the code only if the output
	// of each contains its own code.
	samples := [2]string{strings.Repeat("0", codeLength), strings.Repeat("9", codeLength)}
	for _, key := range slices.Sorted(maps.Keys(r.templates)) {
		tmpl := r.templates[key]
		var text string
		for _, code := range samples {
			out, err := r.execute(tmpl, code, sampleMinutes)
			if err != nil {
				return nil, fmt.Errorf("%w: template %q: %w", ErrInvalidConfig, key, err)
			}
			if !strings.Contains(out, code) {
				return nil, fmt.Errorf("%w: template %q does not print {{.Code}}", ErrInvalidConfig, key)
			}
			text = out
		}
		if segments, encoding := smsSegments(text); segments > 1 {
			log.Warn("phoneauth: message template does not fit one SMS segment",
				slog.String("locale", key),
				slog.String("encoding", encoding),
				slog.Int("segments", segments),
				slog.Int("limit", singleSegmentLimit(encoding)))
		}
	}
	return r, nil
}

// parseTemplates parses the templates t, with def where t has no ""
// entry, by normalised locale. A bad locale or a template that does not
// parse is an error matching ErrInvalidConfig; what names the templates in
// it.
func parseTemplates(t Templates, def, what string) (map[string]*template.Template, error) {
	sources := map[string]string{"": def}
	seen := make(map[string]string, len(t)) // normalised locale → key of t
	for _, locale := range slices.Sorted(maps.Keys(t)) {
		key := normalizeLocale(locale)
		if !validLocale(key) || key == "" && locale != "" {
			return nil, fmt.Errorf("%w: %s locale %q is not a BCP 47 tag", ErrInvalidConfig, what, locale)
		}
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: %ss %q and %q name the same locale", ErrInvalidConfig, what, other, locale)
		}
		seen[key] = locale
		sources[key] = t[locale]
	}
	out := make(map[string]*template.Template, len(sources))
	for key, src := range sources {
		tmpl, err := template.New(key).Parse(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalidConfig, what, key, err)
		}
		out[key] = tmpl
	}
	return out, nil
}

// DefaultPhoneChangeTemplate is the notice sent to a user's old number when
// the account moves to another one, for every locale that
// Config.PhoneChangeTemplates does not cover. It carries no code.
const DefaultPhoneChangeTemplate = "Your {{.AppName}} account was moved to the phone number {{.Phone}}. If this was not you, contact support at once."

// newNoticeRenderer parses the phone-change notices t (see
// Config.PhoneChangeTemplates) and checks each by rendering a sample.
func newNoticeRenderer(t Templates, appName string) (*messageRenderer, error) {
	r := &messageRenderer{appName: appName}
	var err error
	if r.templates, err = parseTemplates(t, DefaultPhoneChangeTemplate, "phone-change template"); err != nil {
		return nil, err
	}
	for key := range r.templates {
		if _, err := r.renderNotice(key, "+1******0000"); err != nil {
			return nil, fmt.Errorf("%w: phone-change template %q: %w", ErrInvalidConfig, key, err)
		}
	}
	return r, nil
}

// renderNotice returns the phone-change notice naming maskedPhone, in the
// template of locale (with fallback, see Templates).
func (r *messageRenderer) renderNotice(locale, maskedPhone string) (string, error) {
	var b strings.Builder
	if err := r.lookup(locale).Execute(&b, templateData{AppName: r.appName, Phone: maskedPhone}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// render returns the message text carrying code, valid for ttl, in the
// template of locale (with fallback, see Templates).
func (r *messageRenderer) render(locale, code string, ttl time.Duration) (string, error) {
	tmpl := r.lookup(locale)
	minutes := 0
	if ttl > 0 {
		minutes = int((ttl + time.Minute - 1) / time.Minute)
	}
	text, err := r.execute(tmpl, code, minutes)
	if err != nil {
		return "", fmt.Errorf("phoneauth: rendering message template %q: %w", tmpl.Name(), err)
	}
	return text, nil
}

// lookup returns the template for locale: the exact tag, then the tag with
// subtags dropped from the end, then the default.
func (r *messageRenderer) lookup(locale string) *template.Template {
	// Tolerate an Accept-Language value: only its first tag counts.
	if i := strings.IndexAny(locale, ",;"); i >= 0 {
		locale = locale[:i]
	}
	key := normalizeLocale(locale)
	for key != "" {
		if t, ok := r.templates[key]; ok {
			return t
		}
		i := strings.LastIndexByte(key, '-')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return r.templates[""]
}

// execute runs tmpl and appends the WebOTP line if configured.
func (r *messageRenderer) execute(tmpl *template.Template, code string, minutes int) (string, error) {
	var b strings.Builder
	if err := tmpl.Execute(&b, templateData{AppName: r.appName, Code: code, Minutes: minutes}); err != nil {
		return "", err
	}
	if r.webOTPDomain == "" {
		return b.String(), nil
	}
	// WebOTP (origin-bound one-time codes): the last line is "@domain #code".
	text := strings.TrimRight(b.String(), " \t\r\n")
	return text + "\n\n@" + r.webOTPDomain + " #" + code, nil
}

// normalizeLocale lower-cases a locale, reads "_" as "-" and trims spaces.
func normalizeLocale(locale string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
}

// validLocale reports whether a normalised locale is empty or made of
// hyphen-separated subtags of 1 to 8 ASCII letters and digits.
func validLocale(key string) bool {
	if key == "" {
		return true
	}
	for tag := range strings.SplitSeq(key, "-") {
		if tag == "" || len(tag) > 8 {
			return false
		}
		for _, c := range []byte(tag) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

// validWebOTPDomain reports whether d looks like a host name: dot-separated
// labels of ASCII letters, digits and hyphens.
func validWebOTPDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// SMS encodings reported by smsSegments.
const (
	// encodingGSM7 is the GSM 03.38 7-bit default alphabet: 160 characters
	// in one segment, 153 per segment of a longer message; the characters
	// of the extension table (€ [ ] { } \ ^ ~ | and form feed) count twice.
	encodingGSM7 = "GSM-7"
	// encodingUCS2 is used as soon as one character is outside GSM-7: 70
	// UTF-16 code units in one segment, 67 per segment of a longer message
	// (characters outside the Basic Multilingual Plane, such as most emoji,
	// count twice).
	encodingUCS2 = "UCS-2"
)

// smsSegments returns how many SMS segments text needs and the encoding a
// carrier would use for it (encodingGSM7 or encodingUCS2). A segment of a
// multi-part message never splits an escaped GSM-7 character or a UTF-16
// surrogate pair. The empty text needs 0 segments.
func smsSegments(text string) (segments int, encoding string) {
	gsm := true
	septets, units := 0, 0
	for _, r := range text {
		n := gsm7Size(r)
		septets += n
		units += utf16Size(r)
		gsm = gsm && n > 0
	}
	size, total, single, multi := utf16Size, units, 70, 67
	encoding = encodingUCS2
	if gsm {
		size, total, single, multi = gsm7Size, septets, 160, 153
		encoding = encodingGSM7
	}
	switch {
	case total == 0:
		return 0, encoding
	case total <= single:
		return 1, encoding
	}
	segments, used := 1, 0
	for _, r := range text {
		n := size(r)
		if used+n > multi {
			segments++
			used = 0
		}
		used += n
	}
	return segments, encoding
}

// gsm7Size is the number of septets r takes in GSM-7: 1 for the default
// alphabet, 2 for the extension table (an escape and the character), 0 if
// GSM-7 cannot encode r.
func gsm7Size(r rune) int {
	switch {
	case isGSM7Basic(r):
		return 1
	case isGSM7Extension(r):
		return 2
	}
	return 0
}

// utf16Size is the number of UTF-16 code units of r (invalid UTF-8 is
// decoded as U+FFFD, one unit).
func utf16Size(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1
}

// singleSegmentLimit is the capacity of a one-segment message.
func singleSegmentLimit(encoding string) int {
	if encoding == encodingGSM7 {
		return 160
	}
	return 70
}

// ASCII characters of the GSM 03.38 default alphabet and extension table,
// as bit sets of code points 0-63 (lo) and 64-127 (hi).
const (
	gsm7BasicLo uint64 = 0xffffffff00002400 // \n \r space to ?
	gsm7BasicHi uint64 = 0x07fffffe87ffffff // @ A-Z _ a-z
	gsm7ExtLo   uint64 = 0x0000000000001000 // \f
	gsm7ExtHi   uint64 = 0x7800000078000000 // [ \ ] ^ { | } ~
)

// inASCIISet reports whether the ASCII rune r is in the set (lo, hi).
func inASCIISet(lo, hi uint64, r rune) bool {
	if r < 64 {
		return lo>>r&1 == 1
	}
	return hi>>(r-64)&1 == 1
}

// isGSM7Basic reports whether r is in the GSM 03.38 default alphabet.
func isGSM7Basic(r rune) bool {
	if 0 <= r && r < 0x80 {
		return inASCIISet(gsm7BasicLo, gsm7BasicHi, r)
	}
	return strings.ContainsRune("£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", r)
}

// isGSM7Extension reports whether r is in the GSM 03.38 extension table
// (sent as an escape and the character: two septets).
func isGSM7Extension(r rune) bool {
	if 0 <= r && r < 0x80 {
		return inASCIISet(gsm7ExtLo, gsm7ExtHi, r)
	}
	return r == '€'
}

// LogSender is a Sender for development: instead of delivering a message it
// logs it at Warn level. Only with Development set does it log the code and
// the text: it is then the only part of phoneauth that ever writes a code to
// a log, and must never run in production. Without Development (the zero
// value) it logs that a message was not sent, without its code or text, so
// that a production server left with it never leaks a code to its logs.
// The zero value logs to slog.Default().
type LogSender struct {
	// Logger receives the messages. Default: slog.Default().
	Logger *slog.Logger
	// Development logs the code and the message text. Set it from the same
	// switch as Config.Development.
	Development bool
}

// Send logs m (phone masked; code and text only in Development) and returns
// a random message id of the form "log-…". It never fails.
func (s LogSender) Send(ctx context.Context, m Message) (string, error) {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	id := "log-" + rand.Text()
	if !s.Development {
		log.LogAttrs(ctx, slog.LevelWarn, "phoneauth: message NOT sent: LogSender outside development mode (configure a real Sender); code withheld",
			slog.String("to", MaskPhone(m.To)),
			slog.String("channel", string(m.Channel)),
			slog.String("challenge_id", m.ChallengeID),
			slog.String("message_id", id))
		return id, nil
	}
	log.LogAttrs(ctx, slog.LevelWarn, "phoneauth: DEVELOPMENT ONLY: message logged instead of sent",
		slog.String("to", MaskPhone(m.To)),
		slog.String("channel", string(m.Channel)),
		slog.String("code", m.Code),
		slog.String("text", m.Text),
		slog.String("challenge_id", m.ChallengeID),
		slog.String("message_id", id))
	return id, nil
}
