package redisstore

import (
	"encoding/json"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// TestStoredDeviceFormat pins the JSON of a session's device: sessions
// written by earlier versions, under these keys, must still be read.
func TestStoredDeviceFormat(t *testing.T) {
	d := phoneauth.Device{ID: "d1", Type: "ios", Name: "Ana's phone", PlatformVersion: "18.2", PushToken: "fcm-1"}
	const want = `{"deviceId":"d1","deviceType":"ios","deviceName":"Ana's phone","platformVersion":"18.2","fcmToken":"fcm-1"}`
	b, err := json.Marshal(storedDevice(d))
	if err != nil || string(b) != want {
		t.Fatalf("stored device = %s, %v; want %s", b, err, want)
	}
	var back storedDevice
	if err := json.Unmarshal([]byte(`{"deviceId":"d2"}`), &back); err != nil || phoneauth.Device(back) != (phoneauth.Device{ID: "d2"}) {
		t.Fatalf("read back %+v, %v", back, err)
	}
}
