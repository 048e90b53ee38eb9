package archive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/shizuku-labs/archiver/internal/postgres"
)

// turnOff is how a warning about the hold says to switch it off.
const turnOff = "if nothing cleans this data, or cleaning is meant to lag, set raw.require_clean=false (ARCHIVER_RAW_REQUIRE_CLEAN=false, --raw-require-clean=false)"

// rawHold decides how the raw purge is held back (Options.RawRequireClean):
// raw rows newer than the newest clean reading were not cleaned yet, and
// purging them would lose them for good when the cleaning pipeline has
// stalled. It returns nil when nothing needs holding, and all=true when
// every raw row must be kept (the clean table has no reading at all).
func (r *Runner) rawHold(ctx context.Context, log *slog.Logger, s *Summary) (hold *postgres.Hold, all bool, err error) {
	if !r.Opts.RawRequireClean {
		return nil, false, nil
	}
	newest, err := r.Clean.NewestReading(ctx, r.Pool)
	if err != nil {
		return nil, false, err
	}
	if newest == nil {
		s.RawHeldAll = true
		log.Warn(fmt.Sprintf("raw purge held back: the clean table %s has no reading, so no raw row is known to be cleaned; every raw row is kept; %s", r.Clean, turnOff))
		return nil, true, nil
	}
	s.CleanNewest = *newest
	h := &postgres.Hold{Watermark: *newest, Clean: r.Clean}
	if col := r.Opts.RawSensorColumn; col != "" {
		hasCol, sameType, err := r.Raw.SameSensorType(ctx, r.Pool, col, r.Clean)
		if err != nil {
			return nil, false, err
		}
		idx := false
		if hasCol && sameType {
			if idx, err = r.Clean.HasSensorTimeIndex(ctx, r.Pool); err != nil {
				return nil, false, err
			}
		}
		switch {
		case !hasCol:
			log.Debug("raw purge held table-wide: the raw table has no sensor column", "column", col, "setting", "raw.sensor_column")
		case !sameType:
			log.Warn(fmt.Sprintf("raw purge held table-wide: the raw table's %s (raw.sensor_column) and the clean table's %s have different types", col, r.Clean.Sensor))
		case !idx:
			log.Info(fmt.Sprintf("raw purge held table-wide (newest clean reading of any sensor): a per-sensor hold needs an index on %s (%s, %s) to stay cheap; "+
				"create one (CREATE INDEX CONCURRENTLY ON %s (%s, %s)) to hold each sensor's raw rows by its own newest clean reading",
				r.Clean, r.Clean.Sensor, r.Clean.Time, r.Clean, r.Clean.Sensor, r.Clean.Time))
		default:
			h.PerSensor, h.Sensor = true, col
			s.RawHoldPerSensor = true
		}
	}
	if !h.PerSensor && !newest.Before(s.RawCutoff) {
		return nil, false, nil // cleaning is past the cutoff: nothing to hold back
	}
	return h, false, nil
}

// reportHeld measures, after the purge, how far it was held back: the age
// past the raw cutoff of the oldest raw row it kept. A stalled cleaning
// pipeline shows as this growing by a day every day.
func (r *Runner) reportHeld(ctx context.Context, log *slog.Logger, s *Summary) {
	oldest, err := r.Raw.OldestBefore(ctx, r.Pool, s.RawCutoff)
	if err != nil {
		log.Warn("cannot measure how far the raw purge was held back", "err", err)
		return
	}
	if oldest == nil {
		return
	}
	s.RawHeld = s.RawCutoff.Sub(*oldest)
	if s.RawHeldAll {
		return // said already
	}
	scope := "the newest clean reading"
	if s.RawHoldPerSensor {
		scope = "each sensor's newest clean reading (the table's for sensors with none)"
	}
	log.Warn(fmt.Sprintf("raw purge held back: cleaning is behind; raw rows newer than %s are kept; the oldest kept is from %s, %s past the raw retention (newest clean reading: %s); %s",
		scope, oldest.Format(time.RFC3339), s.RawHeld.Round(time.Second), s.CleanNewest.Format(time.RFC3339), turnOff),
		"held_seconds", int64(s.RawHeld.Seconds()))
}
