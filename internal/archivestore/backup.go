package archivestore

import "strings"

// backupSuffix marks the copy of a day's archive that an archive run keeps
// while it replaces the archive: from just before the new object is
// published until the run commits (see internal/archive). A backup left
// behind means a run stopped in between; the next run of the day merges
// with it and removes it.
const backupSuffix = ".committed"

// BackupKey is where the archive at key is kept while a run replaces it.
func BackupKey(key string) string { return key + backupSuffix }

// BackupOf reports whether key is the backup of an archive, and of which.
func BackupOf(key string) (string, bool) {
	return strings.CutSuffix(key, backupSuffix)
}
