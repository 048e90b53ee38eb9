package archive

import (
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// TestRecoveryDecisions walks every case of crash recovery: which source a
// day merges with (planSource), given the committed manifest, whether an
// object is at the key, whether its backup exists and whether the object
// at the key was already rejected; and how the object read is judged
// (judgeSource): accepted, fallen back from, or refused.
func TestRecoveryDecisions(t *testing.T) {
	const key = "archives/2025/01/15.json.gz"
	bk := backupKey(key)
	d, _ := measure.ParseDay("2025-01-15")
	committed := &manifest.Entry{ID: 7, RunID: "run-1", SHA256: "committed", Readings: manifest.Int64(100)}
	ours := map[string]bool{"ours": true}

	plans := []struct {
		name string
		f    recoveryFacts
		want sourcePlan
		// refuse is a word of the refusal, for plans that refuse.
		refuse string
	}{
		{name: "new day", f: recoveryFacts{}, want: sourcePlan{}},
		{name: "object at key, no manifest", f: recoveryFacts{AtKey: true, Ours: ours},
			want: sourcePlan{Source: key, CopyToBackup: true}},
		{name: "object at key, committed", f: recoveryFacts{AtKey: true, Committed: committed},
			want: sourcePlan{Source: key, WantSHA: "committed", CopyToBackup: true}},
		{name: "committed, key empty, backup not looked up", f: recoveryFacts{Committed: committed},
			want: sourcePlan{NeedBackup: true}},
		{name: "committed, key empty, backup there", f: recoveryFacts{Committed: committed, BackupKnown: true, Backup: true},
			want: sourcePlan{Source: bk, WantSHA: "committed"}},
		{name: "committed, key empty, no backup: lost", f: recoveryFacts{Committed: committed, BackupKnown: true},
			refuse: "missing from storage"},
		{name: "rejected, backup not looked up", f: recoveryFacts{AtKey: true, Rejected: "ours"},
			want: sourcePlan{NeedBackup: true}},
		{name: "rejected, backup there, committed", f: recoveryFacts{AtKey: true, Committed: committed, Rejected: "x", BackupKnown: true, Backup: true},
			want: sourcePlan{Source: bk, WantSHA: "committed"}},
		{name: "rejected, backup there, no manifest", f: recoveryFacts{AtKey: true, Rejected: "ours", BackupKnown: true, Backup: true},
			want: sourcePlan{Source: bk}},
		{name: "rejected, no backup, no manifest: the day's rows alone", f: recoveryFacts{AtKey: true, Rejected: "ours", BackupKnown: true},
			want: sourcePlan{}},
		{name: "rejected, no backup, committed: trust a superset", f: recoveryFacts{AtKey: true, Committed: committed, Rejected: "x", BackupKnown: true},
			want: sourcePlan{Source: key, WantSHA: "committed", CopyToBackup: true, Trust: true}},
	}
	for _, c := range plans {
		c.f.Key = key
		got := planSource(c.f)
		if c.refuse != "" {
			if got.Refuse == nil || !strings.Contains(got.Refuse.Error(), c.refuse) {
				t.Errorf("%s: plan %+v, want a refusal saying %q", c.name, got, c.refuse)
			}
			continue
		}
		if got.Refuse != nil {
			t.Errorf("%s: refused: %v", c.name, got.Refuse)
			continue
		}
		// A plan after a rejection says why it is not the usual one.
		if (c.f.Rejected != "" && !got.NeedBackup) != (got.Warn != "") {
			t.Errorf("%s: warning %q", c.name, got.Warn)
		}
		got.Warn = ""
		if got != c.want {
			t.Errorf("%s: plan %+v, want %+v", c.name, got, c.want)
		}
	}

	atKey := sourcePlan{Source: key, WantSHA: "committed", CopyToBackup: true}
	atKeyNew := sourcePlan{Source: key, CopyToBackup: true}
	fromBackup := sourcePlan{Source: bk, WantSHA: "committed"}
	trusted := sourcePlan{Source: key, WantSHA: "committed", CopyToBackup: true, Trust: true}
	first := recoveryFacts{Key: key, AtKey: true, Committed: committed, Ours: ours}
	firstNew := recoveryFacts{Key: key, AtKey: true, Ours: ours}
	again := recoveryFacts{Key: key, AtKey: true, Committed: committed, Rejected: "x", BackupKnown: true}
	againNew := recoveryFacts{Key: key, AtKey: true, Rejected: "ours", BackupKnown: true, Backup: true}
	other, _ := measure.ParseDay("2025-01-16")
	judged := []struct {
		name string
		f    recoveryFacts
		p    sourcePlan
		got  sourceRead
		want verdict
		says string
	}{
		{"the committed archive", first, atKey, sourceRead{Day: d, SHA256: "committed", Readings: 100}, accept, ""},
		{"an archive that does not say its day", first, atKey, sourceRead{SHA256: "committed", Readings: 100}, accept, ""},
		{"another day's archive", first, atKey, sourceRead{Day: other, SHA256: "committed"}, refuse, "is for day 2025-01-16"},
		{"another checksum at the key: an upload never committed", first, atKey, sourceRead{Day: d, SHA256: "x", Readings: 150}, fallBack, "never committed"},
		{"no manifest, an upload of ours", firstNew, atKeyNew, sourceRead{Day: d, SHA256: "ours"}, fallBack, "never committed"},
		{"no manifest, the original service's archive", firstNew, atKeyNew, sourceRead{Day: d, SHA256: "theirs"}, accept, ""},
		{"the backup, as committed", again, fromBackup, sourceRead{Day: d, SHA256: "committed"}, accept, ""},
		{"the backup, changed", again, fromBackup, sourceRead{Day: d, SHA256: "y"}, refuse, "neither it nor"},
		{"backup after rejection, no manifest: taken as it is", againNew, sourcePlan{Source: bk}, sourceRead{Day: d, SHA256: "ours"}, accept, ""},
		{"trusted superset", again, trusted, sourceRead{Day: d, SHA256: "x", Readings: 100}, accept, ""},
		{"trusted, fewer readings than committed", again, trusted, sourceRead{Day: d, SHA256: "x", Readings: 99}, refuse, "changed outside the archiver"},
	}
	for _, c := range judged {
		v, err := judgeSource(c.f, c.p, d, c.got)
		if v != c.want {
			t.Errorf("%s: verdict %d, want %d (%v)", c.name, v, c.want, err)
		}
		if c.says == "" && err != nil || c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}

	// The backup is removed after the commit only where the run made or
	// read it.
	for p, want := range map[*sourcePlan]bool{&atKey: true, &atKeyNew: true, &fromBackup: true, &trusted: true, {}: false} {
		if got := p.deletesBackup(key); got != want {
			t.Errorf("plan %+v deletes the backup: %v, want %v", *p, got, want)
		}
	}
}
