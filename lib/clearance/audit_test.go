package clearance

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAuditRecords(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	name := Request{ID: "id1", Task: "t1", Project: "p", Dest: "example.com", Proto: ProtoDNSName, Kind: KindRefused, Count: 3}
	addr := Request{ID: "id2", Task: "t1", Project: "p", Dest: "2001:db8::1", Port: 443, Proto: ProtoUDP, Kind: KindBlocked, Count: 1}
	for _, c := range []struct {
		rec  AuditRecord
		want string
	}{
		{RequestRecord(name, at),
			`{"time":"2026-01-02T02:04:05Z","task":"t1","event":"request","id":"id1","kind":"refused","name":"example.com","protocol":"dns-name"}`},
		{RequestRecord(addr, at),
			`{"time":"2026-01-02T02:04:05Z","task":"t1","event":"request","id":"id2","kind":"blocked","dst":"2001:db8::1","port":443,"protocol":"udp"}`},
		{VerdictRecord(name, Verdict{Action: Deny, Scope: ScopeProject, Who: 1000, Surface: SurfaceNotify}, at),
			`{"time":"2026-01-02T02:04:05Z","task":"t1","event":"verdict","id":"id1","kind":"refused","name":"example.com","protocol":"dns-name","count":3,"action":"deny","scope":"project","who":1000,"surface":"notify"}`},
		{VerdictRecord(addr, Verdict{Action: Allow, Scope: ScopeDuration, Duration: time.Hour, Who: 0, Surface: SurfaceCLI, Error: "nft: busy"}, at),
			`{"time":"2026-01-02T02:04:05Z","task":"t1","event":"verdict","id":"id2","kind":"blocked","dst":"2001:db8::1","port":443,"protocol":"udp","count":1,"action":"allow","scope":"for-duration","until":"2026-01-02T03:04:05Z","who":0,"surface":"cli","error":"nft: busy"}`},
	} {
		b, err := json.Marshal(c.rec)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("\n got %s\nwant %s", b, c.want)
		}
	}
}
