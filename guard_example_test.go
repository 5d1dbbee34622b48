package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/phoneauth/phoneauth"
)

// The conversion guard: codes into one number range that nobody verifies
// drain its bucket (10 an hour by default), and the range is throttled; a
// verified code gives its event back. The budgets per range and country
// are sized here for a service whose users are mostly in Pakistan.
func ExampleLimits_conversionGuard() {
	ctx := context.Background()
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	auth, err := phoneauth.New(phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil }),
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Tokens: phoneauth.TokenConfig{Keys: keys},
		Limits: phoneauth.Limits{
			Global:         phoneauth.Limit{Events: 3000, Per: time.Hour}, // 3 × the busiest hour
			CountryBudgets: map[string]phoneauth.Limit{"PK": {Events: 3000, Per: time.Hour}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	request := func(i int) error { // a new client each time, as a pumping bot
		_, err := auth.Request(ctx, phoneauth.RequestParams{Phone: fmt.Sprintf("+447400123%03d", i), IP: fmt.Sprintf("198.51.100.%d", i+1)})
		return err
	}
	sent := 0
	for i := range 40 {
		if request(i) == nil {
			sent++
		}
	}
	fmt.Println("codes sent into +447400123xxx:", sent)
	err = request(40)
	var rl *phoneauth.RateLimitError
	if errors.As(err, &rl) && errors.Is(err, phoneauth.ErrRangeThrottled) {
		fmt.Println("throttled:", rl.Scope, "retry after", rl.RetryAfter.Round(time.Minute))
	}
	fmt.Println(phoneauth.NumberRange("+447400123456", 3))
	// Output:
	// codes sent into +447400123xxx: 10
	// throttled: range_guard retry after 6m0s
	// +447400123
}
