package phoneauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func mustRenderer(t testing.TB, tmpl Templates, domain string) *messageRenderer {
	t.Helper()
	r, err := newMessageRenderer(tmpl, "Acme", domain, 6, nil)
	if err != nil {
		t.Fatalf("newMessageRenderer: %v", err)
	}
	return r
}

func TestRenderDefaultTemplate(t *testing.T) {
	r := mustRenderer(t, nil, "")
	got, err := r.render("en", "123456", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Your Acme code is 123456. It expires in 5 minutes."; got != want {
		t.Errorf("render = %q, want %q", got, want)
	}
}

func TestRenderLocaleFallback(t *testing.T) {
	r := mustRenderer(t, Templates{
		"":        "default {{.Code}}",
		"pt":      "pt {{.Code}}",
		"pt-BR":   "pt-BR {{.Code}}",
		"zh-Hant": "zh-Hant {{.Code}}",
	}, "")
	tests := []struct{ locale, want string }{
		{"pt-BR", "pt-BR 1"},
		{"PT-br", "pt-BR 1"},
		{"pt_BR", "pt-BR 1"},
		{" pt-BR ", "pt-BR 1"},
		{"pt-PT", "pt 1"},
		{"pt", "pt 1"},
		{"zh-Hant-TW", "zh-Hant 1"},
		{"zh", "default 1"},
		{"fr", "default 1"},
		{"", "default 1"},
		{"pt-BR,pt;q=0.9,en;q=0.8", "pt-BR 1"},
		{"pt;q=0.9", "pt 1"},
		{"-", "default 1"},
		{"p", "default 1"},
	}
	for _, tt := range tests {
		got, err := r.render(tt.locale, "1", time.Minute)
		if err != nil {
			t.Fatalf("render(%q): %v", tt.locale, err)
		}
		if got != tt.want {
			t.Errorf("render(%q) = %q, want %q", tt.locale, got, tt.want)
		}
	}
}

func TestRenderMinutesRoundedUp(t *testing.T) {
	r := mustRenderer(t, Templates{"": "{{.Code}} {{.Minutes}}"}, "")
	tests := []struct {
		ttl  time.Duration
		want string
	}{
		{5 * time.Minute, "1 5"},
		{5*time.Minute + time.Second, "1 6"},
		{5*time.Minute - time.Second, "1 5"},
		{30 * time.Second, "1 1"},
		{time.Nanosecond, "1 1"},
		{time.Hour, "1 60"},
		{0, "1 0"},
		{-time.Minute, "1 0"},
	}
	for _, tt := range tests {
		got, err := r.render("", "1", tt.ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("ttl %v: render = %q, want %q", tt.ttl, got, tt.want)
		}
	}
}

func TestRenderWebOTP(t *testing.T) {
	r := mustRenderer(t, Templates{"": "Code {{.Code}}\n", "de": "Code {{.Code}}"}, "login.example.com")
	for _, locale := range []string{"en", "de"} {
		got, err := r.render(locale, "424242", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Code 424242\n\n@login.example.com #424242"; got != want {
			t.Errorf("render(%q) = %q, want %q", locale, got, want)
		}
	}
}

func TestNewMessageRendererRejects(t *testing.T) {
	tests := []struct {
		name   string
		tmpl   Templates
		domain string
	}{
		{"no code", Templates{"": "Your code expires in {{.Minutes}} minutes."}, ""},
		{"no code in one locale", Templates{"": "{{.Code}}", "de": "Ihr Code"}, ""},
		{"code written literally", Templates{"": "Your code is 000000."}, ""},
		{"code only conditionally", Templates{"": "{{if eq .Code \"000000\"}}{{.Code}}{{end}}"}, ""},
		{"parse error", Templates{"": "{{.Code"}, ""},
		{"unknown field", Templates{"": "{{.Code}} {{.Expiry}}"}, ""},
		{"bad locale", Templates{"pt BR": "{{.Code}}"}, ""},
		{"blank locale", Templates{" ": "{{.Code}}"}, ""},
		{"long subtag", Templates{"en-abcdefghi": "{{.Code}}"}, ""},
		{"same locale twice", Templates{"pt-BR": "{{.Code}}", "pt_br": "{{.Code}} x"}, ""},
		{"domain with scheme", nil, "https://example.com"},
		{"domain with space", nil, "example.com #1"},
		{"domain with empty label", nil, "example..com"},
		{"domain with port", nil, "example.com:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newMessageRenderer(tt.tmpl, "Acme", tt.domain, 6, nil)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// logBuffer returns a logger writing text records to a buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestNewMessageRendererWarnsAboutLongMessages(t *testing.T) {
	// With the 6-digit sample code, pad+code is exactly the given length.
	gsm := func(n int) string { return strings.Repeat("a", n-6) + "{{.Code}}" }
	ucs := func(n int) string { return strings.Repeat("я", n-6) + "{{.Code}}" }
	tests := []struct {
		name string
		tmpl string
		warn bool
	}{
		{"GSM-7 160", gsm(160), false},
		{"GSM-7 161", gsm(161), true},
		{"GSM-7 extension 160 septets", strings.Repeat("€", 77) + "{{.Code}}", false}, // 154+6
		{"GSM-7 extension 161 septets", strings.Repeat("€", 77) + "a{{.Code}}", true},
		{"UCS-2 70", ucs(70), false},
		{"UCS-2 71", ucs(71), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := logBuffer()
			if _, err := newMessageRenderer(Templates{"": tt.tmpl}, "", "", 6, log); err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(buf.String(), "does not fit one SMS segment")
			if warned != tt.warn {
				t.Errorf("warned = %v, want %v; log: %s", warned, tt.warn, buf.String())
			}
			for _, sample := range []string{"000000", "999999"} {
				if strings.Contains(buf.String(), sample) {
					t.Errorf("log contains the sample code %s: %s", sample, buf.String())
				}
			}
		})
	}
}

func TestNewMessageRendererCountsWebOTPLine(t *testing.T) {
	// 140 characters fit alone, but not with "\n\n@example.com #000000".
	log, buf := logBuffer()
	tmpl := strings.Repeat("a", 134) + "{{.Code}}"
	if _, err := newMessageRenderer(Templates{"": tmpl}, "", "example.com", 6, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "does not fit one SMS segment") {
		t.Errorf("no warning for a message made too long by the WebOTP line; log: %q", buf.String())
	}
}

func TestSMSSegments(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	ya := func(n int) string { return strings.Repeat("я", n) }
	tests := []struct {
		name     string
		text     string
		segments int
		encoding string
	}{
		{"empty", "", 0, encodingGSM7},
		{"GSM-7 1", "a", 1, encodingGSM7},
		{"GSM-7 160", a(160), 1, encodingGSM7},
		{"GSM-7 161", a(161), 2, encodingGSM7},
		{"GSM-7 306", a(306), 2, encodingGSM7},
		{"GSM-7 307", a(307), 3, encodingGSM7},
		{"GSM-7 basic non-ASCII", "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà@$_\n\r", 1, encodingGSM7},
		{"extension 80 = 160 septets", strings.Repeat("€", 80), 1, encodingGSM7},
		{"extension 80 + 1 = 161 septets", strings.Repeat("€", 80) + "a", 2, encodingGSM7},
		{"every extension char", strings.Repeat("^{}\\[~]|€\f", 8), 1, encodingGSM7},
		{"every extension char, one more", strings.Repeat("^{}\\[~]|€\f", 8) + "a", 2, encodingGSM7},
		{"escape never split", a(152) + "€" + a(152), 3, encodingGSM7},
		{"UCS-2 70", ya(70), 1, encodingUCS2},
		{"UCS-2 71", ya(71), 2, encodingUCS2},
		{"UCS-2 69 + GSM char", a(69) + "я", 1, encodingUCS2},
		{"UCS-2 134", ya(134), 2, encodingUCS2},
		{"UCS-2 135", ya(135), 3, encodingUCS2},
		{"emoji count twice 35", strings.Repeat("😀", 35), 1, encodingUCS2},
		{"emoji count twice 36", strings.Repeat("😀", 36), 2, encodingUCS2},
		{"surrogate pair never split", ya(66) + "😀" + ya(66), 3, encodingUCS2},
		{"backtick is not GSM-7", "`", 1, encodingUCS2},
		{"extension char in UCS-2 counts once", strings.Repeat("€", 69) + "я", 1, encodingUCS2},
		{"invalid UTF-8", "\xff", 1, encodingUCS2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segments, encoding := smsSegments(tt.text)
			if segments != tt.segments || encoding != tt.encoding {
				t.Errorf("smsSegments = %d, %s; want %d, %s", segments, encoding, tt.segments, tt.encoding)
			}
		})
	}
}

func FuzzSMSSegments(f *testing.F) {
	for _, s := range []string{"", "a", "€", "я", "😀", strings.Repeat("a", 161), "\xff\xfe", "Your code is 123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		segments, encoding := smsSegments(text)
		if (segments == 0) != (text == "") {
			t.Fatalf("smsSegments(%q) = %d segments", text, segments)
		}
		gsm := true
		for _, r := range text {
			gsm = gsm && (isGSM7Basic(r) || isGSM7Extension(r))
		}
		if want := map[bool]string{true: encodingGSM7, false: encodingUCS2}[gsm]; encoding != want {
			t.Fatalf("smsSegments(%q) encoding %s, want %s", text, encoding, want)
		}
		// Every character takes at most 2 units, and a segment holds at
		// least 67 of them, so this bound always holds.
		if n := utf8.RuneCountInString(text); segments > (2*n+66)/67+1 {
			t.Fatalf("smsSegments(%q) = %d segments for %d characters", text, segments, n)
		}
	})
}

func FuzzRenderLocale(f *testing.F) {
	r := mustRenderer(f, Templates{"": "d {{.Code}}", "pt": "p {{.Code}}", "pt-BR": "b {{.Code}}"}, "example.com")
	for _, s := range []string{"", "pt", "pt-BR", "pt_br", "pt-BR,en;q=0.5", "-", "--", "é", "pt-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, locale string) {
		got, err := r.render(locale, "123456", time.Minute)
		if err != nil {
			t.Fatalf("render(%q): %v", locale, err)
		}
		if !strings.HasSuffix(got, "\n\n@example.com #123456") || !strings.Contains(got, " 123456") {
			t.Fatalf("render(%q) = %q", locale, got)
		}
	})
}

func TestRenderConcurrent(t *testing.T) {
	r := mustRenderer(t, Templates{"pt": "p {{.Code}}"}, "")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				code := strings.Repeat(string(rune('0'+i)), 6)
				got, err := r.render("pt-BR", code, time.Minute)
				if err != nil || got != "p "+code {
					t.Errorf("render = %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestLogSenderLogsTheCode(t *testing.T) {
	log, buf := logBuffer()
	s := LogSender{Logger: log, Development: true}
	m := Message{To: "+923012345678", Channel: WhatsApp, Text: "Your code is 482913.", Code: "482913", ChallengeID: "ch_1"}
	id1, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := s.Send(context.Background(), m)
	if !strings.HasPrefix(id1, "log-") || len(id1) < 20 || id1 == id2 {
		t.Errorf("message ids %q, %q: want distinct random log-… ids", id1, id2)
	}
	out := buf.String()
	for _, want := range []string{"level=WARN", "DEVELOPMENT ONLY", "code=482913", `text="Your code is 482913."`, "channel=whatsapp", "challenge_id=ch_1", "message_id=" + id1, "to=" + MaskPhone(m.To)} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}

func TestLogSenderZeroValueUsesDefaultLogger(t *testing.T) {
	log, buf := logBuffer()
	old := slog.Default()
	slog.SetDefault(log)
	defer slog.SetDefault(old)
	if _, err := (LogSender{Development: true}).Send(context.Background(), Message{To: "+15550100", Code: "777111"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "code=777111") {
		t.Errorf("default logger got %q", buf.String())
	}
}

// Hole 7: outside development mode the LogSender never writes the code,
// neither alone nor in the text, and says that nothing was sent.
func TestLogSenderOutsideDevelopmentWithholdsTheCode(t *testing.T) {
	log, buf := logBuffer()
	m := Message{To: "+923012345678", Channel: SMS, Text: "Your code is 482913.", Code: "482913", ChallengeID: "ch_1"}
	if _, err := (LogSender{Logger: log}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "482913") || strings.Contains(out, m.To) {
		t.Errorf("log outside development mode leaks the code or the phone: %s", out)
	}
	if !strings.Contains(out, "NOT sent") || !strings.Contains(out, "challenge_id=ch_1") {
		t.Errorf("log does not say the message was not sent: %s", out)
	}
}

func BenchmarkRender(b *testing.B) {
	r := mustRenderer(b, Templates{"pt": "{{.Code}} é o seu código {{.AppName}}. Válido por {{.Minutes}} min."}, "example.com")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.render("pt-BR", "123456", 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSMSSegments(b *testing.B) {
	text := "Your Acme code is 123456. It expires in 5 minutes.\n\n@example.com #123456"
	b.ReportAllocs()
	for b.Loop() {
		smsSegments(text)
	}
}

// TestGSM7ASCII checks the bit sets against the GSM 03.38 tables written
// out by hand.
func TestGSM7ASCII(t *testing.T) {
	const basic = "\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	const extension = "\f^{}\\[~]|"
	for r := rune(0); r < 0x80; r++ {
		if got, want := isGSM7Basic(r), strings.ContainsRune(basic, r); got != want {
			t.Errorf("isGSM7Basic(%q) = %v", r, got)
		}
		if got, want := isGSM7Extension(r), strings.ContainsRune(extension, r); got != want {
			t.Errorf("isGSM7Extension(%q) = %v", r, got)
		}
	}
	if !isGSM7Extension('€') || isGSM7Basic('€') || isGSM7Basic(-1) || isGSM7Extension(-1) || isGSM7Basic('ç') {
		t.Error("non-ASCII membership wrong")
	}
}
