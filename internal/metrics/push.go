package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"
)

// DefaultJob is the Pushgateway job name the alert rules in deploy/ expect.
const DefaultJob = "archiver"

// pushTimeout bounds a push whose ctx has no deadline: a Pushgateway that
// accepts the connection and never answers must not keep a finished batch
// job alive until the scheduler kills it.
const pushTimeout = 30 * time.Second

// Push sends the metrics to the Pushgateway at pushURL (e.g.
// http://pushgateway:9091, no /metrics/... suffix) under the grouping key
// job=<job>, instance=<hostname>. An empty job means DefaultJob.
//
// It uses POST, which replaces only the metric families present in this
// push: after a failed run, which has no last_success_timestamp_seconds, the
// gateway keeps the previous success time, so the staleness alert measures
// time since the last real success.
//
// Because the gateway replaces whole families per group, a Recorder for a
// command other than archive pushes under job "<job>-<command>"; otherwise
// a restore would drop the archive series the alerts watch.
//
// Credentials in the URL (https://user:password@host) are sent as basic
// auth and never appear in the returned error.
func (r *Recorder) Push(ctx context.Context, pushURL, job string) error {
	if r == nil {
		return nil
	}
	target, user, password, err := splitCredentials(pushURL)
	if err != nil {
		return fmt.Errorf("metrics: push: %w", err)
	}
	if job == "" {
		job = DefaultJob
	}
	if r.command != commandArchive {
		job += "-" + r.command
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pushTimeout)
		defer cancel()
	}

	p := push.New(target, job).Gatherer(r.reg).Grouping("instance", host)
	if user != "" || password != "" {
		p = p.BasicAuth(user, password)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("metrics: push to %s: %w", target, scrub(err, user, password))
	}
	return nil
}

// splitCredentials removes the userinfo from rawURL so that it reaches
// neither the request line nor any error text that quotes the URL.
func splitCredentials(rawURL string) (target, user, password string, err error) {
	s := rawURL
	if !strings.Contains(s, "://") {
		// Same default as push.New; needed here so that "user:pw@host" is
		// parsed as userinfo rather than as a scheme.
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the input, credentials included.
		return "", "", "", errors.New("invalid Pushgateway URL")
	}
	if u.Host == "" {
		return "", "", "", fmt.Errorf("invalid Pushgateway URL %s: no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		// The client appends /metrics/job/... to the URL, which would land
		// inside the query; and a query may carry a token.
		return "", "", "", fmt.Errorf("invalid Pushgateway URL %s: query or fragment not supported", (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
	}
	if u.User != nil {
		user = u.User.Username()
		password, _ = u.User.Password()
		u.User = nil
	}
	return u.String(), user, password, nil
}

// scrub is the last line of defence: the userinfo is no longer in the URL,
// but a proxy or Pushgateway error body could still echo a credential. The
// original error is then dropped rather than wrapped, because unwrapping
// would give the credential back.
func scrub(err error, secrets ...string) error {
	msg := err.Error()
	leaked := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", msg, context.Canceled)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	}
	return errors.New(msg)
}
