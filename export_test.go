package phoneauth

// WaitRefunds waits for the limit refunds that a's failed requests started
// in the background (see Authenticator.refund).
func WaitRefunds(a *Authenticator) { a.refunds.Wait() }
