package storetest

import (
	"testing"

	"github.com/phoneauth/phoneauth"
)

// userTests are the clauses of phoneauth.Users.
var userTests = []struct {
	name string
	fn   func(t *testing.T, u phoneauth.Users)
}{
	{"UserByPhoneMissing", testUserByPhoneMissing},
	{"CreateFind", testCreateFind},
	{"CreateExisting", testCreateExisting},
	{"DistinctUsers", testDistinctUsers},
	{"SetPhoneMoves", testSetPhoneMoves},
	{"SetPhoneSame", testSetPhoneSame},
	{"SetPhoneTaken", testSetPhoneTaken},
	{"SetPhoneUnknownUser", testSetPhoneUnknownUser},
	{"ConcurrentCreate", testConcurrentCreate},
}

// createUser creates a user with phone, which must be new.
func createUser(t *testing.T, users phoneauth.Users, phone string) phoneauth.User {
	t.Helper()
	u, created, err := users.CreateUser(ctx, phone, map[string]any{"name": "Ada"})
	noErr(t, "CreateUser", err)
	if !created {
		t.Fatalf("CreateUser of a new phone: created = false, want true")
	}
	if u.ID == "" || u.Phone != phone {
		t.Fatalf("CreateUser: got ID %q Phone %q, want an ID and Phone %q", u.ID, u.Phone, phone)
	}
	if u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser: CreatedAt is zero, want the time of creation by the Users' own clock")
	}
	return u
}

// wantOwner fails t unless phone belongs to the user with id want.
func wantOwner(t *testing.T, users phoneauth.Users, what, phone, want string) {
	t.Helper()
	u, err := users.UserByPhone(ctx, phone)
	noErr(t, what, err)
	if u.ID != want || u.Phone != phone {
		t.Fatalf("%s: UserByPhone = {ID %q Phone %q}, want {ID %q Phone %q}", what, u.ID, u.Phone, want, phone)
	}
}

// wantNoOwner fails t unless phone belongs to nobody.
func wantNoOwner(t *testing.T, users phoneauth.Users, what, phone string) {
	t.Helper()
	_, err := users.UserByPhone(ctx, phone)
	wantErr(t, what, err, phoneauth.ErrNotFound)
}

func testUserByPhoneMissing(t *testing.T, users phoneauth.Users) {
	wantNoOwner(t, users, "UserByPhone of a phone nobody has", randomPhone())
}

func testCreateFind(t *testing.T, users phoneauth.Users) {
	phone := randomPhone()
	u := createUser(t, users, phone)
	got, err := users.UserByPhone(ctx, phone)
	noErr(t, "UserByPhone after CreateUser", err)
	if got.ID != u.ID || got.Phone != phone || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("UserByPhone after CreateUser: got %+v, want %+v", got, u)
	}
}

// CreateUser of a phone that has a user returns that user, created false.
func testCreateExisting(t *testing.T, users phoneauth.Users) {
	phone := randomPhone()
	u := createUser(t, users, phone)
	again, created, err := users.CreateUser(ctx, phone, nil)
	noErr(t, "second CreateUser", err)
	if created || again.ID != u.ID {
		t.Fatalf("second CreateUser of one phone: got ID %q created %v, want ID %q created false", again.ID, created, u.ID)
	}
}

func testDistinctUsers(t *testing.T, users phoneauth.Users) {
	a, b := createUser(t, users, randomPhone()), createUser(t, users, randomPhone())
	if a.ID == b.ID {
		t.Fatalf("two phones got the same user ID %q", a.ID)
	}
	wantOwner(t, users, "first user", a.Phone, a.ID)
	wantOwner(t, users, "second user", b.Phone, b.ID)
}

// SetPhone gives the user a new phone and frees the old one.
func testSetPhoneMoves(t *testing.T, users phoneauth.Users) {
	old, moved := randomPhone(), randomPhone()
	u := createUser(t, users, old)
	noErr(t, "SetPhone", users.SetPhone(ctx, u.ID, moved))
	wantOwner(t, users, "the new phone after SetPhone", moved, u.ID)
	wantNoOwner(t, users, "the old phone after SetPhone", old)
	other := createUser(t, users, old)
	if other.ID == u.ID {
		t.Fatal("CreateUser of a freed phone returned the user who moved away from it")
	}
}

// Setting a user's own phone again is not an error.
func testSetPhoneSame(t *testing.T, users phoneauth.Users) {
	u := createUser(t, users, randomPhone())
	noErr(t, "SetPhone of the user's own phone", users.SetPhone(ctx, u.ID, u.Phone))
	wantOwner(t, users, "after SetPhone of the user's own phone", u.Phone, u.ID)
}

// Another user's phone cannot be taken; nothing changes.
func testSetPhoneTaken(t *testing.T, users phoneauth.Users) {
	a, b := createUser(t, users, randomPhone()), createUser(t, users, randomPhone())
	wantErr(t, "SetPhone of another user's phone", users.SetPhone(ctx, b.ID, a.Phone), phoneauth.ErrPhoneTaken)
	wantOwner(t, users, "the taken phone", a.Phone, a.ID)
	wantOwner(t, users, "the refused user's phone", b.Phone, b.ID)
}

func testSetPhoneUnknownUser(t *testing.T, users phoneauth.Users) {
	phone := randomPhone()
	err := users.SetPhone(ctx, "user-"+randomString(20), phone)
	wantErr(t, "SetPhone of an unknown user", err, phoneauth.ErrNotFound)
	wantNoOwner(t, users, "the phone given to an unknown user", phone)
}

// 20 concurrent signups of one phone make one user, created once.
func testConcurrentCreate(t *testing.T, users phoneauth.Users) {
	const n = 20
	phone := randomPhone()
	got := make([]phoneauth.User, n)
	created := make([]bool, n)
	errs := make([]error, n)
	concurrently(n, func(i int) { got[i], created[i], errs[i] = users.CreateUser(ctx, phone, nil) })
	creations := 0
	for i := range n {
		noErr(t, "concurrent CreateUser", errs[i])
		if got[i].ID != got[0].ID {
			t.Fatalf("concurrent CreateUser of one phone returned users %q and %q", got[0].ID, got[i].ID)
		}
		if created[i] {
			creations++
		}
	}
	if creations != 1 {
		t.Fatalf("%d concurrent CreateUser of one phone: created = true %d times, want exactly 1", n, creations)
	}
	wantOwner(t, users, "after concurrent CreateUser", phone, got[0].ID)
}
