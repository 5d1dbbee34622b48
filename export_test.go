package phoneauth

// LoginKey exposes loginKey to the external tests.
var LoginKey = loginKey
