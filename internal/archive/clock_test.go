package archive

import (
	"strings"
	"testing"
	"time"
)

func TestCheckClocks(t *testing.T) {
	host := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		db   time.Time
		want string // "" for no error
	}{
		{host, ""},
		{host.Add(9 * time.Minute), ""},
		{host.Add(-9 * time.Minute), ""},
		{host.Add(11 * time.Minute), "11m0s ahead of"},
		{host.Add(-2 * time.Hour), "2h0m0s behind"},
		{host.AddDate(1, 0, 0), "ahead of"},
	} {
		err := checkClocks(c.db, host, 0)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("db %s: %v", c.db, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "refusing to run")):
			t.Errorf("db %s: %v, want it refused (%q)", c.db, err, c.want)
		}
	}
	if err := checkClocks(host.Add(time.Hour), host, 2*time.Hour); err != nil {
		t.Errorf("a bound of 2h refused 1h: %v", err)
	}
}
