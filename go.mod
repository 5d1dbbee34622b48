module github.com/phoneauth/phoneauth

go 1.24.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/nyaruka/phonenumbers v1.8.1
	golang.org/x/time v0.14.0
)

require (
	golang.org/x/text v0.23.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
