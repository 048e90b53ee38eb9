// Package logging builds the archiver's slog loggers: readable text lines
// for people and cron mail (the default), or one JSON object per line for
// log shippers.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("text" or "json").
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
	case "text", "":
		return slog.New(&textHandler{w: w, level: lv, mu: &sync.Mutex{}}), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}

// Context marks an attribute that every line of a run or a day repeats
// (run id, day, object key, storage location). The JSON form keeps it on
// every line, complete, for log shippers; the text form shows it only on
// warnings and errors, where it says what went wrong where, and leaves it
// out of info lines, whose message already names the day and key and
// whose run is the one the banner and summary frame.
func Context(key string, value any) slog.Attr {
	return slog.Any(key, contextValue{slog.AnyValue(value)})
}

type contextValue struct{ v slog.Value }

func (c contextValue) LogValue() slog.Value { return c.v }

// textSHA256 is how much of a sha256 the text form shows: enough to tell
// archives apart and to find one in `archiver list`; JSON keeps all 64.
const textSHA256 = 12

// textHandler writes "2025-01-15T02:00:00Z INFO message key=value ...". It
// differs from slog.TextHandler in putting the message first and unquoted,
// so that the run summary reads like the original service's log.
type textHandler struct {
	w          io.Writer
	level      slog.Leveler
	mu         *sync.Mutex
	attrs      []byte // preformatted attrs from With
	briefAttrs []byte // the same without Context attrs, for info and debug lines
	prefix     string // group prefix from WithGroup
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 256)
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	buf = t.UTC().AppendFormat(buf, "2006-01-02T15:04:05Z")
	buf = append(buf, ' ')
	buf = append(buf, fmt.Sprintf("%-5s", r.Level.String())...)
	buf = append(buf, ' ')
	buf = append(buf, r.Message...)
	brief := r.Level < slog.LevelWarn
	if brief {
		buf = append(buf, h.briefAttrs...)
	} else {
		buf = append(buf, h.attrs...)
	}
	r.Attrs(func(a slog.Attr) bool {
		if !(brief && isContext(a)) {
			buf = appendAttr(buf, h.prefix, a)
		}
		return true
	})
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]byte(nil), h.attrs...)
	c.briefAttrs = append([]byte(nil), h.briefAttrs...)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.prefix, a)
		if !isContext(a) {
			c.briefAttrs = appendAttr(c.briefAttrs, h.prefix, a)
		}
	}
	return &c
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func isContext(a slog.Attr) bool {
	if a.Value.Kind() != slog.KindLogValuer {
		return false
	}
	_, ok := a.Value.LogValuer().(contextValue)
	return ok
}

func appendAttr(buf []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			buf = appendAttr(buf, prefix+a.Key+".", g)
		}
		return buf
	}
	buf = append(buf, ' ')
	buf = append(buf, prefix...)
	buf = append(buf, a.Key...)
	buf = append(buf, '=')
	var s string
	switch a.Value.Kind() {
	case slog.KindTime:
		s = a.Value.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindDuration:
		s = a.Value.Duration().Round(time.Millisecond).String()
	default:
		s = a.Value.String()
		if a.Key == "sha256" && len(s) == 64 {
			s = s[:textSHA256] + "…"
		}
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = strconv.Quote(s)
	}
	return append(buf, s...)
}
