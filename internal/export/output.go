package export

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// Output is where an export's rows go: one stream, one file, or one file
// per day in a directory.
type Output interface {
	// begin starts day d and returns the writer for its rows.
	begin(d measure.Day) (rowWriter, error)
	// end finishes day d: keeps it when err is nil, else discards it where
	// the output can.
	end(d measure.Day, err error) error
	// close finishes the export: keeps it when err is nil, else discards it
	// where the output can.
	close(err error) error
	// perDay reports whether days are independent files, so that a failed
	// day leaves the others intact and the export goes on.
	perDay() bool
	// discards reports whether a failed export or day leaves nothing behind
	// (files), as opposed to a stream that has already carried the rows.
	discards() bool
	// setTypes gives the column types the database says, before any day.
	setTypes(map[string]ColumnType)
	String() string
}

// ToWriter streams every day into w in format f (stdout, a pipe). Rows of
// a day that turns out not to match its manifest have already gone out
// when that is known at the end of the day; the export then fails.
func ToWriter(w io.Writer, f Format) Output { return &streamOut{w: w, f: f} }

type streamOut struct {
	w     io.Writer
	f     Format
	types map[string]ColumnType
	rw    rowWriter
}

func (s *streamOut) begin(measure.Day) (rowWriter, error) {
	if s.rw == nil {
		rw, err := newRowWriter(s.f, s.w, s.types)
		if err != nil {
			return nil, err
		}
		s.rw = rw
	}
	return s.rw, nil
}

func (s *streamOut) end(measure.Day, error) error { return nil }

func (s *streamOut) close(err error) error {
	if s.rw == nil {
		// No day at all: still a valid, empty file of the format.
		rw, nerr := newRowWriter(s.f, s.w, s.types)
		if nerr != nil {
			return nerr
		}
		s.rw = rw
	}
	if err != nil {
		// Flush what was written so the reader sees where it stopped, but
		// never a Parquet footer that would make a partial file look whole.
		if s.f == Parquet {
			return nil
		}
	}
	return s.rw.close()
}

func (s *streamOut) setTypes(t map[string]ColumnType) { s.types = t }
func (s *streamOut) perDay() bool                     { return false }
func (s *streamOut) discards() bool                   { return false }
func (s *streamOut) String() string                   { return "standard output" }

// ToFile writes every day into one file at path, through a temporary file
// next to it that is renamed into place only when the whole export has
// succeeded; a failed export leaves no file (and an older one untouched).
func ToFile(path string, f Format) Output { return &fileOut{path: path, f: f} }

type fileOut struct {
	path  string
	f     Format
	types map[string]ColumnType
	tmp   *os.File
	rw    rowWriter
}

func (o *fileOut) open() error {
	if o.tmp != nil {
		return nil
	}
	tmp, err := createTemp(o.path)
	if err != nil {
		return err
	}
	o.tmp = tmp
	rw, err := newRowWriter(o.f, tmp, o.types)
	if err != nil {
		return err
	}
	o.rw = rw
	return nil
}

func (o *fileOut) begin(measure.Day) (rowWriter, error) {
	if err := o.open(); err != nil {
		return nil, err
	}
	return o.rw, nil
}

func (o *fileOut) end(measure.Day, error) error { return nil }

func (o *fileOut) close(err error) error {
	if err == nil {
		err = o.open()
	}
	if err != nil {
		if o.tmp != nil {
			o.tmp.Close()
			os.Remove(o.tmp.Name())
		}
		return nil
	}
	return commit(o.tmp, o.rw, o.path)
}

func (o *fileOut) setTypes(t map[string]ColumnType) { o.types = t }
func (o *fileOut) perDay() bool                     { return false }
func (o *fileOut) discards() bool                   { return true }
func (o *fileOut) String() string                   { return o.path }

// ToDir writes one file per day into dir, named YYYY-MM-DD.<format>. Each
// file appears (replacing an older export of the day) only once its day
// has been exported and checked in full.
func ToDir(dir string, f Format) Output { return &dirOut{dir: dir, f: f} }

type dirOut struct {
	dir   string
	f     Format
	types map[string]ColumnType
	tmp   *os.File
	rw    rowWriter
}

// DayFile is the name of a day's file in an --out-dir export.
func DayFile(d measure.Day, f Format) string { return d.String() + "." + f.Ext() }

func (o *dirOut) begin(d measure.Day) (rowWriter, error) {
	tmp, err := createTemp(filepath.Join(o.dir, DayFile(d, o.f)))
	if err != nil {
		return nil, err
	}
	rw, err := newRowWriter(o.f, tmp, o.types)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	o.tmp, o.rw = tmp, rw
	return rw, nil
}

func (o *dirOut) end(d measure.Day, err error) error {
	tmp, rw := o.tmp, o.rw
	o.tmp, o.rw = nil, nil
	if tmp == nil {
		return nil
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil
	}
	return commit(tmp, rw, filepath.Join(o.dir, DayFile(d, o.f)))
}

func (o *dirOut) setTypes(t map[string]ColumnType) { o.types = t }
func (o *dirOut) close(error) error                { return nil }
func (o *dirOut) perDay() bool                     { return true }
func (o *dirOut) discards() bool                   { return true }
func (o *dirOut) String() string                   { return o.dir }

// createTemp makes the temporary file for path in path's directory, so the
// final rename stays on one filesystem and is atomic.
// It is created with mode 0666 so that the umask decides, as for any
// other file the user creates (os.CreateTemp would make it 0600).
func createTemp(path string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.FormatUint(rand.Uint64(), 36)+".partial")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create output file: %w", err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("create output file next to %s: no free temporary name", path)
}

// commit finishes the format, syncs the file and renames it into place.
func commit(tmp *os.File, rw rowWriter, path string) error {
	err := rw.close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
