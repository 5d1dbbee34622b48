package httpadapter

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/phoneauth/phoneauth"
)

// claimsKey is the context key of the access token's claims.
type claimsKey struct{}

// ClaimsFromContext returns the claims of the access token that RequireAuth
// (or a phone-verification route) checked for this request.
func ClaimsFromContext(ctx context.Context) (*phoneauth.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*phoneauth.Claims)
	return c, ok && c != nil
}

// RequireAuth protects next with an access token issued by the
// Authenticator, taken from "Authorization: Bearer …" or, as the
// phone-verification clients send it, the "user-jwt-token" header. next
// finds the token's claims with ClaimsFromContext (the user id is
// Claims.Subject). A request without a valid token gets 401 with
// WWW-Authenticate and the envelope {"success": false, "message":
// "UN_AUTHORIZED", "code": "unauthorized", …}.
//
// Validation is stateless: an access token stays valid until it expires
// (phoneauth.TokenConfig.AccessTTL) even if its session was revoked. Routes
// that change the account should use RequireSession.
func (h *Handler) RequireAuth(next http.Handler) http.Handler {
	return h.authenticated(styleEnvelope, false, next.ServeHTTP)
}

// RequireSession is RequireAuth that also requires the token's session to
// be live (phoneauth.Authenticator.ValidateSession: one store read): a
// token of a session that was logged out, revoked (token reuse, a phone
// change) or has expired gets 401 at once rather than working until it
// expires. The phone-verification routes use it.
func (h *Handler) RequireSession(next http.Handler) http.Handler {
	return h.authenticated(styleEnvelope, true, next.ServeHTTP)
}

// authenticated is RequireAuth, or with live RequireSession, with errors in
// style st.
func (h *Handler) authenticated(st style, live bool, next http.HandlerFunc) http.HandlerFunc {
	if !h.made() {
		return serveNotMadeByNew
	}
	validate := h.auth.ValidateAccessToken
	if live {
		validate = h.auth.ValidateSession
	}
	return func(w http.ResponseWriter, r *http.Request) {
		token := accessToken(r)
		if token == "" {
			w.Header().Set("WWW-Authenticate", "Bearer")
			h.writeError(w, r, st, &problem{status: http.StatusUnauthorized, code: CodeUnauthorized})
			return
		}
		c, err := validate(r.Context(), token)
		switch {
		case errors.Is(err, phoneauth.ErrInvalidToken):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			h.writeError(w, r, st, &problem{status: http.StatusUnauthorized, code: CodeUnauthorized})
			return
		case err != nil:
			h.writeError(w, r, st, problemFor(err, nil))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	}
}

// accessToken returns the bearer token of "Authorization: Bearer …", else
// the "user-jwt-token" header (with or without "Bearer ").
func accessToken(r *http.Request) string {
	if t, ok := cutBearer(r.Header.Get("Authorization")); ok {
		return t
	}
	t := strings.TrimSpace(r.Header.Get("user-jwt-token"))
	if b, ok := cutBearer(t); ok {
		return b
	}
	return t
}

// cutBearer returns the token of a "Bearer <token>" credential; the scheme
// is case-insensitive.
func cutBearer(s string) (string, bool) {
	const scheme = "bearer "
	if len(s) <= len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(s[len(scheme):])
	return t, t != ""
}
