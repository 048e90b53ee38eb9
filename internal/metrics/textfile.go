package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const lastSuccessName = namespace + "_last_success_timestamp_seconds"

// WriteTextfile writes the metrics in the text exposition format for
// node_exporter's textfile collector (--collector.textfile.directory).
//
// The file is replaced atomically: node_exporter may read it at any moment,
// and a half-written file would be reported as a scrape error or, worse, as
// partial numbers. The temporary file starts with a dot and does not end in
// .prom, so the collector never picks it up.
//
// A failed run does not erase the last success: if this run has no
// last_success_timestamp_seconds, the value already in path is carried over,
// otherwise the staleness alert would fire after the first failure instead of
// after a day of them.
func (r *Recorder) WriteTextfile(path string) error {
	if r == nil {
		return nil
	}
	if err := r.writeTextfile(path); err != nil {
		return fmt.Errorf("metrics: write textfile %s: %w", path, err)
	}
	return nil
}

func (r *Recorder) writeTextfile(path string) error {
	mfs, err := r.reg.Gather()
	if err != nil {
		return err
	}
	mfs = carryLastSuccess(mfs, previousLastSuccess(path))

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(tmp, mf); err != nil {
			return err
		}
	}
	// CreateTemp makes the file 0600; node_exporter usually runs as another
	// user and must be able to read it.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	// Without the fsync a crash after the rename can leave an empty file
	// under the final name.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	committed = true
	syncDir(dir)
	return nil
}

// syncDir makes the rename itself durable. It is best effort: the file is
// already complete and in place, and some file systems refuse to fsync a
// directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// previousLastSuccess reads the last-success family from an earlier textfile.
// A missing or unreadable file yields nil: it is about to be replaced, and
// failing to report this run because the previous report was damaged would
// be worse than losing the old timestamp.
func previousLastSuccess(path string) *dto.MetricFamily {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return nil
	}
	return mfs[lastSuccessName]
}

// carryLastSuccess adds to mfs the series of old that this run did not set,
// keyed by their label set (in practice: by command).
func carryLastSuccess(mfs []*dto.MetricFamily, old *dto.MetricFamily) []*dto.MetricFamily {
	if old == nil || old.GetType() != dto.MetricType_GAUGE {
		return mfs
	}
	i := slices.IndexFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == lastSuccessName })
	if i < 0 {
		cur := &dto.MetricFamily{Name: old.Name, Help: old.Help, Type: old.Type}
		mfs = append(mfs, cur)
		slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		i = slices.Index(mfs, cur)
	}
	cur := mfs[i]
	have := map[string]bool{}
	for _, m := range cur.Metric {
		have[labelKey(m)] = true
	}
	for _, m := range old.Metric {
		if !have[labelKey(m)] {
			cur.Metric = append(cur.Metric, m)
		}
	}
	slices.SortFunc(cur.Metric, func(a, b *dto.Metric) int { return strings.Compare(labelKey(a), labelKey(b)) })
	return mfs
}

func labelKey(m *dto.Metric) string {
	pairs := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		pairs = append(pairs, l.GetName()+"\x00"+l.GetValue())
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\x01")
}

// TextfilePath is where command writes its textfile when the configured
// metrics file is path: the archive run writes path itself, every other
// command a file of its own next to it (archiver.prom: archiver-verify.prom),
// so that no command replaces another's series. Its name still ends in
// .prom, so node_exporter collects it.
func TextfilePath(path, command string) string {
	if command == commandArchive || path == "" {
		return path
	}
	if base, ok := strings.CutSuffix(path, ".prom"); ok {
		return base + "-" + command + ".prom"
	}
	return path + "-" + command
}
