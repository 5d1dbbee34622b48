package phoneauth

import (
	"errors"
	"testing"
	"time"
)

// boundOf returns the brute-force bound of a Config changed by mutate,
// defaults applied.
func boundOf(t *testing.T, mutate func(*Config)) float64 {
	t.Helper()
	var c Config
	mutate(&c)
	c.setDefaults()
	return c.guessOdds()
}

// The brute-force bound at the defaults, computed from the configured
// limits: at most 3×10⁻⁴ per targeted phone per day.
func TestBruteForceBoundAtDefaults(t *testing.T) {
	p := boundOf(t, func(*Config) {})
	if p <= 0 || p > 3e-4 {
		t.Fatalf("success probability per phone per day at the defaults: %.3g, want ≤ 3e-4", p)
	}
	// The same figure, counted as the limits count it.
	l := DefaultLimits()
	guesses := min(eventsPerDay(l.FailedVerifies), codesPerDay(l)*defaultMaxAttempts)
	t.Logf("defaults: %g guesses per phone per day (failed-verify budget %g, sends %g × %d attempts), odds %.3g",
		guesses, eventsPerDay(l.FailedVerifies), codesPerDay(l), defaultMaxAttempts, p)
	if want := guesses / 1e6; p != want {
		t.Fatalf("odds %g, want %g", p, want)
	}
}

// Hole 8: New refuses configurations whose brute-force bound is above 10⁻³
// per day, unless AllowWeakCodes is set, and placeholder secrets.
func TestNewRefusesWeakConfigurations(t *testing.T) {
	key, err := GenerateEd25519Key("k")
	if err != nil {
		t.Fatal(err)
	}
	keys := mustKeySet(t, key)
	base := func() Config {
		return Config{Store: NewMemoryStore(), Sender: LogSender{}, Secret: []byte("a test secret: 32 bytes or more, of many different bytes"), Tokens: TokenConfig{Keys: keys}}
	}
	if _, err := New(base()); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	weak := map[string]func(*Config){
		"4-digit codes":             func(c *Config) { c.CodeLength = 4 },
		"5-digit codes":             func(c *Config) { c.CodeLength = 5 },
		"no failed-verify budget":   func(c *Config) { c.Limits.FailedVerifies = Unlimited },
		"large budget":              func(c *Config) { c.Limits.FailedVerifies = Limit{Events: 100, Per: time.Minute} },
		"budget and sends off":      func(c *Config) { c.Limits.FailedVerifies, c.Limits.PerPhone = Unlimited, Unlimited },
		"many attempts, many sends": func(c *Config) { c.Limits.FailedVerifies, c.MaxAttempts = Unlimited, 1000 },
	}
	for name, mutate := range weak {
		c := base()
		mutate(&c)
		if p := boundOf(t, mutate); p <= maxGuessOdds {
			t.Errorf("%s: odds %g, want above %g", name, p, maxGuessOdds)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
		c.AllowWeakCodes = true
		if _, err := New(c); err != nil {
			t.Errorf("%s with AllowWeakCodes: %v", name, err)
		}
	}
	// 4 digits with the default budget: about 2.5 % a day.
	if p := boundOf(t, func(c *Config) { c.CodeLength = 4 }); p < 0.02 || p > 0.03 {
		t.Errorf("4-digit odds %g", p)
	}
	// Still strong: the per-phone sends alone bound it.
	if p := boundOf(t, func(c *Config) { c.Limits.FailedVerifies = Unlimited; c.CodeLength = 8 }); p > maxGuessOdds {
		t.Errorf("8 digits, no budget: odds %g", p)
	}
	for name, secret := range map[string][]byte{
		"all zero":      make([]byte, 32),
		"one character": []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
		"two repeated":  []byte("abababababababababababababababab"),
		"short":         []byte("0123456789abcdef"),
	} {
		c := base()
		c.Secret = secret
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("secret %s: %v, want ErrInvalidConfig", name, err)
		}
		c = base()
		c.PreviousSecrets = [][]byte{secret}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("previous secret %s: %v, want ErrInvalidConfig", name, err)
		}
	}
	c := base()
	c.Secret = []byte("3f9a0c1b7e4d2a6f8b5c0e9d1a7f3b2c4e6a8d0f1b3c5e7a9d2f4b6c8e0a1d3f") // hex
	if _, err := New(c); err != nil {
		t.Errorf("a hex secret: %v", err)
	}
}
