// Package measure is the archiver's domain model, independent of how any
// store spells it: the UTC Day an archive covers, the clean Reading and the
// Schema of the table's value column, the canonical total order of readings
// (Compare, CompareKey, SortReadings) and the merges and diffs built on it
// (Merge, MergeByKey, Diff). The database side (internal/postgres) and the
// archive format (internal/archivefile) both speak these types; neither
// imports the other.
//
// Where the line with the archive format is: a reading carries some of
// its values as text, and that text is part of what the reading is,
// because Compare orders by it. ValueText is the value's exact number as
// JSON spells it (the token the archive holds, and what PostgreSQL's
// numeric output also is: SetValue, ParseNumber), kept only when the
// float64's Python text would not give it back; Extra is the canonical
// JSON object of the table's extra columns (EncodeExtra). So this package
// defines those texts, spelled as Python's json module spells scalars
// (internal/pyjson, shared with the archive writer), and the archive
// writes them through unchanged. How an archive's bytes are laid out, read
// and checked is internal/archivefile's, including reading an "extra"
// object back into Members (archivefile.ParseExtra), which needs the
// archive's tokenizer (it takes Python's NaN and Infinity, as an extra
// number may hold them).
package measure
