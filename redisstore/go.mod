module github.com/phoneauth/phoneauth/redisstore

go 1.24

require github.com/phoneauth/phoneauth v0.0.0

replace github.com/phoneauth/phoneauth => ../
