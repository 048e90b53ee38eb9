// Package measure is the archiver's domain model, independent of how any
// store spells it: the UTC Day an archive covers, the clean Reading and the
// Schema of the table's value column, the canonical total order of readings
// (Compare, CompareKey, SortReadings) and the merges and diffs built on it
// (Merge, MergeByKey, Diff). The database side (internal/postgres) and the
// archive format (internal/archivefile) both speak these types; neither
// imports the other.
//
// Where the line with the archive format is: a Reading carries some values
// as text, and that text is part of what the reading is, because Compare
// orders by it. ValueText is the value's exact decimal number (the grammar
// is JSON's, which every numeric type's PostgreSQL output also is), and
// Extra is the canonical JSON object of the table's extra columns. This
// package defines what those values are (ValueString, Member) and how they
// order; the archive format writes the text through unchanged.
package measure
