package archivefile

// THIS FILE IS A TEMPORARY STUB. The helper implementing the format replaces
// it with real code and deletes this file.

import (
	"errors"
	"hash"
	"io"
	"time"
)

var errTODO = errors.New("archivefile: not implemented yet")

// Day is a UTC calendar day.
type Day struct{ t time.Time }

func ParseDay(s string) (Day, error)          { return Day{}, errTODO }
func DayOf(t time.Time) Day                   { return Day{} }
func (d Day) String() string                  { return "" }
func (d Day) Start() time.Time                { return d.t }
func (d Day) End() time.Time                  { return d.t }
func (d Day) AddDays(n int) Day               { return d }
func (d Day) Before(o Day) bool               { return false }
func (d Day) IsZero() bool                    { return d.t.IsZero() }
func Key(prefix string, d Day) string         { return "" }
func ParseKey(prefix, key string) (Day, bool) { return Day{}, false }
func Compare(a, b *Reading) int               { return 0 }

type Stats struct {
	Readings    int64
	Sensors     int64
	MinTime     time.Time
	MaxTime     time.Time
	Bytes       int64
	SHA256      string
	Uncompressed int64
}

type Writer struct{}

func NewWriter(w io.Writer, day Day, level int) (*Writer, error) { return nil, errTODO }
func (w *Writer) Write(r *Reading) error                      { return errTODO }
func (w *Writer) Close() error                                { return errTODO }
func (w *Writer) Stats() Stats                                { return Stats{} }

type Limits struct {
	MaxUncompressedBytes int64
	MaxReadings          int64
}

type Reader struct{}

func NewReader(r io.Reader, lim Limits) (*Reader, error) { return nil, errTODO }
func (r *Reader) Next() (*Reading, error)                { return nil, errTODO }
func (r *Reader) Day() Day                               { return Day{} }
func (r *Reader) Canonical() bool                        { return false }
func (r *Reader) Stats() Stats                           { return Stats{} }
func (r *Reader) Close() error                           { return nil }

type Source interface {
	Next() (*Reading, error)
}

func Merge(a, b Source, emit func(*Reading) error) (MergeStats, error) { return MergeStats{}, errTODO }

type MergeStats struct {
	FromA, FromB, Both int64
}

var _ hash.Hash
