package status

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// symbols are the calendar cells: distinct characters, so the calendar
// reads without colour too (NO_COLOR, a pipe, a colour-blind reader).
var symbols = map[State]byte{
	Failed: 'X', CheckedOut: 'C', Partial: '+', Pending: 'o', Archived: '#', NotDue: '.', Empty: '-',
}

// colours are ANSI SGR codes per state.
var colours = map[State]string{
	Failed: "1;31", CheckedOut: "35", Partial: "36", Pending: "33", Archived: "32", NotDue: "2", Empty: "2",
}

// WriteCalendar prints the report as a calendar (one line per month, one
// cell per day; days outside the range are blank), a legend with the count
// of every state, and then the problem days with their reasons. colour adds
// ANSI colours to the cells.
func WriteCalendar(w io.Writer, r Report, colour bool) {
	cell := func(s State) string {
		if !colour {
			return string(symbols[s])
		}
		return "\x1b[" + colours[s] + "m" + string(symbols[s]) + "\x1b[0m"
	}
	byDay := map[measure.Day]State{}
	for _, d := range r.Days {
		byDay[d.Day] = d.State
	}
	fmt.Fprintln(w, "         1        10        20        30")
	if len(r.Days) > 0 {
		first := r.Days[0].Day.Start()
		last := r.Days[len(r.Days)-1].Day.Start()
		for m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(last); m = m.AddDate(0, 1, 0) {
			var b strings.Builder
			b.WriteString(m.Format("2006-01"))
			b.WriteString("  ")
			for t := m; t.Month() == m.Month(); t = t.AddDate(0, 0, 1) {
				if s, ok := byDay[measure.DayOf(t)]; ok {
					b.WriteString(cell(s))
				} else {
					b.WriteByte(' ')
				}
			}
			fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		}
	}
	var legend []string
	for _, s := range States {
		legend = append(legend, fmt.Sprintf("%s %s %d", cell(s), s, r.Counts[s]))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Join(legend, "   "))

	var problems []Day
	for _, d := range r.Days {
		if d.State.Problem() {
			problems = append(problems, d)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Problem days:")
		for _, d := range problems {
			fmt.Fprintf(w, "  %s  %-11s  %s\n", d.Day, d.State, d.Reason)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, Verdict(r))
}

// Verdict is the one-line conclusion, as a check reports it.
func Verdict(r Report) string {
	span := fmt.Sprintf("%s from %s to %s", plural(len(r.Days), "day"), r.From, r.To)
	if !r.Failed() {
		return fmt.Sprintf("OK: %s; nothing failed, no day pending for more than %d days", span, r.Options.MaxPendingDays)
	}
	var why []string
	if n := r.Counts[Failed]; n > 0 {
		why = append(why, plural(n, "failed day"))
	}
	if n := len(r.Overdue); n > 0 {
		why = append(why, fmt.Sprintf("%s pending for more than %d days (oldest due %s ago)", plural(n, "day"), r.Options.MaxPendingDays, age(r.OldestPendingAge)))
	}
	return fmt.Sprintf("PROBLEM: %s: %s", span, strings.Join(why, ", "))
}
