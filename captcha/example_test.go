package captcha_test

import (
	"log/slog"
	"os"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/captcha"
)

// Require a Turnstile token with every code request, and let requests
// through (with a warning) while Cloudflare is unreachable.
func ExampleTurnstile() {
	cfg := phoneauth.Config{
		Captcha: &captcha.Turnstile{
			Secret:   os.Getenv("TURNSTILE_SECRET"),
			Hostname: "login.example.com",
			FailOpen: true,
			Logger:   slog.Default(),
		},
		// Store, Sender, Secret, Tokens…
	}
	_ = cfg
}

// hCaptcha, failing closed (the default) when it is unreachable.
func ExampleHCaptcha() {
	cfg := phoneauth.Config{
		Captcha: &captcha.HCaptcha{Secret: os.Getenv("HCAPTCHA_SECRET"), SiteKey: os.Getenv("HCAPTCHA_SITEKEY")},
	}
	_ = cfg
}
