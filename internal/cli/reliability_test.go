package cli_test

// Shared helpers of the reliability suite (faults_test.go, dbfaults_test.go,
// concurrency_test.go, badinput_test.go, secrets_test.go): an independent
// convergence checker that works on any storage, and a switch for the long
// variants.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

// EnvLong turns on the long variants of the reliability tests (many
// iterations, more processes): `make test-long` sets it.
const EnvLong = "ARCHIVER_TEST_LONG"

// long reports whether the long variants run, and picks n for short runs or
// nLong for long ones.
func long(n, nLong int) int {
	if v, _ := strconv.ParseBool(os.Getenv(EnvLong)); v {
		return nLong
	}
	return n
}

// decodeArchive decodes one archive object with the standard library only.
func decodeArchive(t *testing.T, key string, data []byte) archiveDoc {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", key, err)
	}
	var doc archiveDoc
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		t.Fatalf("%s: not an archive: %v", key, err)
	}
	return doc
}

// fileObjects reads every archive object under dir.
func fileObjects(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// vercelObjects reads every archive object in the Vercel Blob fake.
func vercelObjects(srv *vercelblobtest.Server) map[string][]byte {
	out := map[string][]byte{}
	for _, p := range srv.Pathnames() {
		if strings.HasSuffix(p, ".json.gz") && !strings.HasPrefix(p, ".") {
			data, _ := srv.Object(p)
			out[p] = data
		}
	}
	return out
}

// checkObjects is the independent checker over any storage: every reading
// of want is in the database or in its day's archive, exactly once, nothing
// else is anywhere, every object holds only its own day, and the newest
// committed manifest of every object describes it exactly (checksum, size,
// reading count).
func (h *harness) checkObjects(t *testing.T, objects map[string][]byte, want []reading) {
	t.Helper()
	var archived []reading
	docs := map[string]archiveDoc{}
	for key, data := range objects {
		doc := decodeArchive(t, key, data)
		docs[key] = doc
		if !strings.HasSuffix(key, "archive-"+doc.Day+".json.gz") {
			t.Errorf("%s holds day %q", key, doc.Day)
		}
		seen := map[string]bool{}
		for _, r := range doc.readings(t) {
			if seen[r.key()] {
				t.Errorf("%s holds %s twice", key, r.key())
			}
			seen[r.key()] = true
			if d := r.Time.UTC().Format(time.DateOnly); d != doc.Day {
				t.Errorf("%s (day %s) holds a reading of %s", key, doc.Day, d)
			}
			archived = append(archived, r)
		}
	}
	left := h.cleanRows("true")
	sameReadings(t, "archives ∪ database", append(archived, left...), want)

	rows, err := h.conn.Query(context.Background(), `SELECT DISTINCT ON (object_key) object_key, sha256, readings, bytes
		FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed' ORDER BY object_key, finished_at DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var key, sha string
		var readings, size int64
		if err := rows.Scan(&key, &sha, &readings, &size); err != nil {
			t.Fatal(err)
		}
		data, ok := objects[key]
		if !ok {
			t.Errorf("a committed manifest points at missing object %s", key)
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != sha || int64(len(data)) != size {
			t.Errorf("%s: manifest says sha256 %s and %d bytes, the object has %x and %d", key, sha, size, sum, len(data))
		}
		if got := int64(len(docs[key].readings(t))); got != readings {
			t.Errorf("%s: manifest says %d readings, the object has %d", key, readings, got)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(objects) {
		t.Errorf("%d archive objects but %d of them with a committed manifest", len(objects), n)
	}
}

// committedSHA returns the sha256 of the newest committed manifest of key,
// or "" if there is none.
func (h *harness) committedSHA(key string) string {
	h.t.Helper()
	var sha string
	err := h.conn.QueryRow(context.Background(), `SELECT coalesce((SELECT sha256 FROM archiver.archive_runs
		WHERE kind = 'archive' AND status = 'committed' AND object_key = $1 ORDER BY finished_at DESC, id DESC LIMIT 1), '')`, key).Scan(&sha)
	if err != nil {
		h.t.Fatal(err)
	}
	return sha
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// dayKey is the archive key of day (UTC midnight) under the default prefix.
func dayKey(day time.Time) string {
	return day.Format("archives/2006/01/archive-2006-01-02.json.gz")
}
