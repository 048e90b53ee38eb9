package archive

import (
	"fmt"

	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// Crash recovery, decided without I/O. A run can stop anywhere between
// publishing a day's object and committing its manifest, so when a day is
// archived the object at its key may be the committed archive, an upload
// of a run that never committed, or something changed outside the
// archiver; and the committed archive may be only in its backup
// (<key>.committed, kept from just before a replacement is published until
// the commit). planSource says which object to merge the day's rows with,
// given what is known; judgeSource says, once that object has been read
// (its checksum is known only then), whether it really holds the archived
// readings. archiveDay gathers the facts and does the I/O; these two
// decide, and TestRecoveryDecisions lists every case.

// recoveryFacts are what is known about a day's storage.
type recoveryFacts struct {
	Key string
	// Committed is the key's latest committed manifest; nil if none.
	Committed *manifest.Entry
	// AtKey: an object is at the key.
	AtKey bool
	// BackupKnown says whether Backup was looked up; Backup, whether the
	// backup object exists.
	BackupKnown, Backup bool
	// Ours are the checksums of our uploads of the key that were never
	// committed (failed manifest rows); looked up when AtKey.
	Ours map[string]bool
	// Rejected is the checksum of the object at the key once judged an
	// upload that was never committed; "" before.
	Rejected string
}

// sourcePlan is where the day's archived readings are.
type sourcePlan struct {
	// NeedBackup: look up whether the backup exists (Facts.Backup), then
	// plan again.
	NeedBackup bool
	// Refuse: the day must not be written; the error says why.
	Refuse error

	Source  string // object to merge with; "" for none
	WantSHA string // if set, the object must have this checksum (its committed manifest's)
	// CopyToBackup: Source is the day's key; copy it to the backup before
	// replacing it.
	CopyToBackup bool
	// Trust accepts a superset of the committed archive (an archiver that
	// kept no backups left it; see planSource).
	Trust bool
	// Warn, if set, is logged: why the plan is not the usual one.
	Warn string
}

// planSource decides where the day's archived readings are. Normally the
// object at the key, which judgeSource checks once read. When a committed
// archive's object is missing from the key, its backup may still hold it.
// When the object at the key was rejected as an uncommitted upload, its
// readings beyond the archive's came from the database as it was then; the
// rows still there are read again, and the ones the application changed or
// deleted since must not come back: the backup holds the archive, or there
// was none yet.
func planSource(f recoveryFacts) sourcePlan {
	bk := backupKey(f.Key)
	want := ""
	if f.Committed != nil {
		want = f.Committed.SHA256
	}
	switch {
	case f.Rejected == "" && f.AtKey:
		return sourcePlan{Source: f.Key, WantSHA: want, CopyToBackup: true}
	case f.Rejected == "" && f.Committed == nil:
		return sourcePlan{} // a new day
	case !f.BackupKnown:
		return sourcePlan{NeedBackup: true}
	case f.Rejected == "" && !f.Backup:
		// Writing a new object with only the rows still in the database
		// would hide that the readings of the earlier archive are gone.
		return sourcePlan{Refuse: fmt.Errorf(
			"archive %s recorded by manifest #%d (run %s, %d readings) is missing from storage; refusing to write over lost data: restore the object or investigate with `archiver verify`",
			f.Key, f.Committed.ID, f.Committed.RunID, manifest.Count(f.Committed.Readings))}
	case f.Rejected == "":
		return sourcePlan{Source: bk, WantSHA: want}
	case f.Backup:
		return sourcePlan{Source: bk, WantSHA: want,
			Warn: "the object at the key was uploaded by a run that never committed it; merging with its backup instead"}
	case f.Committed == nil:
		return sourcePlan{Warn: "the object at the key was uploaded by a run that never committed it, and the day has no archive yet; replacing it with the day's rows"}
	}
	// Left by an archiver that kept no backups: as it assumed, a superset
	// of the committed archive is taken to be a crashed run's upload.
	return sourcePlan{Source: f.Key, WantSHA: want, CopyToBackup: true, Trust: true,
		Warn: "the object at the key does not match its manifest and has no backup; merging with it as long as it holds at least the archived readings"}
}

// deletesBackup: once the day commits, the key holds the committed archive
// and the backup is not needed.
func (p sourcePlan) deletesBackup(key string) bool {
	return p.CopyToBackup && p.Source != "" || p.Source == backupKey(key)
}

// verdict is judgeSource's word on the object merged with.
type verdict int

const (
	accept   verdict = iota // it holds the day's archived readings
	fallBack                // it is an upload never committed: set Facts.Rejected, plan again
	refuse                  // it is neither: the day must not be written
)

// sourceRead is what reading the planned source found.
type sourceRead struct {
	Day      measure.Day // the day the archive says it is for; zero if it does not say
	SHA256   string
	Readings int64
}

// judgeSource decides whether the object read for plan p holds the day's
// archived readings: the committed archive itself (its checksum), not an
// upload that was never committed, and not something changed outside the
// archiver. For fallBack and refuse the error says what was found.
func judgeSource(f recoveryFacts, p sourcePlan, d measure.Day, got sourceRead) (verdict, error) {
	if !got.Day.IsZero() && got.Day != d {
		return refuse, fmt.Errorf("existing archive %s is for day %s, not %s", p.Source, got.Day, d)
	}
	uncommitted := fmt.Errorf("%s (sha256 %s) was uploaded by a run that never committed it", f.Key, got.SHA256)
	atKey := p.Source == f.Key
	switch {
	case p.WantSHA == "":
		if atKey && f.Rejected == "" && f.Ours[got.SHA256] {
			return fallBack, uncommitted
		}
		return accept, nil
	case got.SHA256 == p.WantSHA:
		return accept, nil
	case p.Trust && got.Readings >= manifest.Count(f.Committed.Readings):
		return accept, nil
	case atKey && !p.Trust && f.Rejected == "":
		return fallBack, uncommitted
	case !atKey:
		return refuse, fmt.Errorf("backup %s holds sha256 %s but manifest #%d of %s recorded %s: neither it nor %s is the archived day; refusing to replace it (investigate with `archiver verify --deep`)",
			p.Source, got.SHA256, f.Committed.ID, f.Key, f.Committed.SHA256, f.Key)
	}
	// Fewer readings than the manifest means someone replaced or truncated it.
	return refuse, fmt.Errorf("existing archive %s holds %d readings but its manifest #%d recorded %d: it was changed outside the archiver; refusing to replace it (investigate with `archiver verify --deep`)",
		f.Key, got.Readings, f.Committed.ID, manifest.Count(f.Committed.Readings))
}
