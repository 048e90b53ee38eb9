package deploy

// The deploy files are checked by the real tools where they exist, installed
// by .ci/install-deps.sh like PostgreSQL is:
//
//   - Kubernetes objects of built-in kinds are decoded strictly into the
//     Kubernetes API types (k8s.io/api, sigs.k8s.io/yaml): an unknown or
//     misspelt field, a number where a string belongs or a malformed
//     quantity is an error, as kubectl --validate=strict would report it;
//   - the PrometheusRule's spec.groups go through `promtool check rules`,
//     and deploy/prometheus/rules.test.yaml through `promtool test rules`;
//     metric names are read from the PromQL syntax tree (the Prometheus
//     parser) and must be ones internal/metrics exports;
//   - schedules are parsed by robfig/cron, the parser the CronJob
//     controller uses;
//   - the systemd units go through `systemd-analyze verify`, with ExecStart
//     pointed at the archiver binary built for the test.
//
// What remains hand-written is what only this project asserts (a CronJob
// never overlaps, pods run non-root with a memory limit and no API token,
// the image is pinned, units are sandboxed oneshots that never migrate, the
// cron line takes a lock) and the Dockerfile, for which neither Debian nor
// the Go module proxy has a linter.
//
// The checks return problems instead of failing the test directly, so that
// TestTyposAreCaught can run them on deliberately broken copies.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/metrics"
)

func TestDeployFiles(t *testing.T) {
	for _, err := range checkTree(".") {
		t.Error(err)
	}
}

// TestTyposAreCaught breaks a copy of the deploy files one typo at a time
// and expects each to be reported: a check that passes a typo checks nothing.
func TestTyposAreCaught(t *testing.T) {
	for _, m := range []struct{ file, old, new string }{
		{"kubernetes/cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow"},
		{"kubernetes/cronjob.yaml", "concurrencyPolicy:", "concurencyPolicy:"},
		{"kubernetes/cronjob.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		{"kubernetes/cronjob.yaml", "apiVersion: batch/v1", "apiVersion: batch/v1beta1"},
		{"kubernetes/cronjob.yaml", "kind: CronJob", "kind: Cronjob"},
		{"kubernetes/cronjob.yaml", "name: archiver-secrets", "name: archiver-secret"},
		{"kubernetes/cronjob.yaml", `schedule: "0 2 * * *"`, `schedule: "0 2 * *"`},
		{"kubernetes/cronjob.yaml", `schedule: "0 2 * * *"`, `schedule: "0 24 * * *"`},
		{"kubernetes/cronjob.yaml", `timeZone: "Etc/UTC"`, `timeZone: "Etc/UTX"`},
		{"kubernetes/cronjob.yaml", `memory: "128Mi"`, `memory: "128MB"`},
		{"kubernetes/cronjob.yaml", "backoffLimit: 2", "backoffLimit: two"},
		{"kubernetes/cronjob.yaml", "runAsNonRoot: true", "runAsNonRoot: false"},
		{"kubernetes/cronjob.yaml", `                  memory: "64Mi"`, `                  ephemeral-storage: "64Mi"`},
		{"kubernetes/cronjob.yaml", "serviceAccountName: archiver", "serviceAccountName: default"},
		{"kubernetes/cronjob.yaml", "mountPath: /tmp", "mountPath: tmp"},
		{"kubernetes/cronjob.yaml", "- name: tmp\n              emptyDir", "- name: temp\n              emptyDir"},
		{"kubernetes/cronjob.yaml", `args: ["archive"]`, `args: ["archvie"]`},
		{"kubernetes/cronjob.yaml", "  name: archiver\n  labels", "  nme: archiver\n  labels"},
		{"kubernetes/verify-cronjob.yaml", `args: ["verify", "--deep", "--drill", "3"]`, `args: ["verify", "--deep"]`},
		{"kubernetes/status-cronjob.yaml", `args: ["status"]`, `args: ["stat"]`},
		{"kubernetes/serviceaccount.yaml", "automountServiceAccountToken: false", "automountServiceAccountToken: true"},
		{"kubernetes/configmap.yaml", "ARCHIVER_CONCURRENCY:", "ARCHIVER_CONCURENCY:"},
		{"kubernetes/configmap.yaml", `ARCHIVER_BATCH_SIZE: "1000"`, `ARCHIVER_BATCH_SIZE: 1000`},
		{"kubernetes/configmap.yaml", "name: archiver-config", "name: archiver-configs"},
		{"kubernetes/migrate-job.yaml", `          args: ["migrate", "up"]`, `          args: ["migrate", "upp"]`},
		{"kubernetes/backfill-job.yaml", `  parallelism: 3`, `  parallelism: 4`},
		{"kubernetes/backfill-job.yaml", `  completionMode: Indexed`, `  completionMode: NonIndexed`},
		{"kubernetes/backfill-job.yaml", `              value: "3"`, `              value: "2"`},
		{"kubernetes/secret.example.yaml", "kind: Secret", "kind: Secrets"},
		{"kubernetes/secret.example.yaml", "stringData:", "stringdata:"},
		{"kubernetes/secret.example.yaml", "vercel_blob_rw_CHANGE-ME", "vercel_blob_rw_1234"},
		{"kubernetes/prometheus-rules.yaml", "archiver_days_failed_total", "archiver_day_failed_total"},
		{"kubernetes/prometheus-rules.yaml", "alert: ArchiverNotSucceeding", "alert: ArchiverNotSucceding"},
		{"kubernetes/prometheus-rules.yaml", "for: 10m\n          labels:\n            severity: warning\n          annotations:\n            summary: \"archiver has not", "for: 10 minutes\n          labels:\n            severity: warning\n          annotations:\n            summary: \"archiver has not"},
		{"kubernetes/prometheus-rules.yaml", "> 26 * 3600", "> 26 * 3600)"},
		{"kubernetes/prometheus-rules.yaml", "> 2 * 86400", "> 20 * 86400"},
		{"kubernetes/prometheus-rules.yaml", `status=~"missing|corrupt"`, `status=~"missing"`},
		{"kubernetes/prometheus-rules.yaml", `archiver_verify_drill_days{result="failed"}`, `archiver_verify_drill_day{result="failed"}`},
		{"kubernetes/kustomization.yaml", "- cronjob.yaml", "- cronjobs.yaml"},
		{"kubernetes/kustomization.yaml", "  - name: archiver\n", "  - name: archivr\n"},
		{"kubernetes/kustomization.yaml", `newTag: "v1.0.0"`, `newTag: "latest"`},
		{"systemd/archiver.service", "ProtectSystem=strict", "ProtectSytem=strict"},
		{"systemd/archiver.service", "Type=oneshot", "Type=simple"},
		{"systemd/archiver.service", "[Service]", "[Servce]"},
		{"systemd/archiver.service", "User=archiver", "User=root"},
		{"systemd/archiver.service", "NoNewPrivileges=yes", "NoNewPrivileges=yess"},
		{"systemd/archiver.service", "ExecStart=/usr/local/bin/archiver archive", "ExecStart=/usr/local/bin/archiver archive\nExecStartPre=/usr/local/bin/archiver migrate up"},
		{"systemd/archiver.service", "ExecStart=/usr/local/bin/archiver archive", "ExecStart=/usr/local/bin/archivr archive"},
		{"systemd/archiver.timer", "Unit=archiver.service", "Unit=archiver.servce"},
		{"systemd/archiver.timer", "Persistent=true", "Persistent=ture"},
		{"systemd/archiver.timer", "RandomizedDelaySec=10m", "RandomizedDelaySec=10 mins"},
		{"systemd/archiver.timer", "OnCalendar=*-*-* 02:00:00", "OnCalendar=*-*-* 25:00:00"},
		{"systemd/archiver-verify.service", "ExecStart=/usr/local/bin/archiver verify --deep --drill 3", "ExecStart=/usr/local/bin/archiver verify --deep"},
		{"systemd/archiver-verify.timer", "Unit=archiver-verify.service", "Unit=archiver-verfy.service"},
		{"cron/archiver.cron", "0 2 * * * archiver", "0 2 * * archiver"},
		{"cron/archiver.cron", "0 2 * * * archiver", "0 25 * * * archiver"},
		{"cron/archiver.cron", "flock -n -E 3", "-n -E 3"},
		{"cron/archiver.cron", "archiver.log 2>&1", "archiver-$(date +%F).log 2>&1"},
		{"prometheus/rules.test.yaml", `summary: "archiver verify found 1 corrupt archives"`, `summary: "archiver verify found 3 corrupt archives"`},
		{"Dockerfile", "USER 65532:65532", "USER root"},
		{"Dockerfile", "AS builder", "AS build"},
		{"Dockerfile", `ENTRYPOINT ["/archiver"]`, `ENTRYPIONT ["/archiver"]`},
		{"Dockerfile", `ENTRYPOINT ["/archiver"]`, `ENTRYPOINT ["/archiver]`},
		{"Dockerfile", "ARG VERSION=dev", "ARG VERSOIN=dev"},
		{"Dockerfile", "CGO_ENABLED=0 ", ""},
	} {
		t.Run(m.file+": "+m.new, func(t *testing.T) {
			t.Parallel() // each runs promtool and systemd-analyze on its own copy
			root := copyTree(t, ".")
			p := filepath.Join(root, filepath.FromSlash(m.file))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(b, []byte(m.old)); n != 1 {
				t.Fatalf("%q occurs %d times in %s, want once: update the mutation", m.old, n, m.file)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte(m.old), []byte(m.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			errs := checkTree(root)
			if len(errs) == 0 {
				t.Fatalf("replacing %q with %q in %s went unnoticed", m.old, m.new, m.file)
			}
			t.Logf("caught: %v", errs[0])
		})
	}
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// tool finds a validator the test setup installs. A missing one is an
// error, never a skip: a check that does not run checks nothing.
func tool(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (Debian package %s; make deps installs it): %w", name, pkg, err)
	}
	return p, nil
}

var (
	buildOnce sync.Once
	binPath   string
	binErr    error
)

// archiverBinary builds the archiver once per test binary, for
// systemd-analyze verify to find at ExecStart.
func archiverBinary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "archiver-deploy-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "archiver")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/archiver").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build the archiver: %v\n%s", err, out)
		}
	})
	return binPath, binErr
}

// checkTree checks every deploy file under root.
func checkTree(root string) []error {
	var errs []error
	add := func(es ...error) { errs = append(errs, es...) }

	var yamls, units, crons []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case filepath.Base(filepath.Dir(p)) == "prometheus" || filepath.Base(filepath.Dir(p)) == "grafana":
			// promtool's unit tests and the dashboard: checked with the rules.
		case filepath.Ext(p) == ".yaml" || filepath.Ext(p) == ".yml":
			yamls = append(yamls, p)
		case filepath.Ext(p) == ".service" || filepath.Ext(p) == ".timer":
			units = append(units, p)
		case filepath.Ext(p) == ".cron":
			crons = append(crons, p)
		}
		return nil
	})
	if err != nil {
		return []error{err}
	}
	if len(yamls) == 0 || len(units) == 0 || len(crons) == 0 {
		add(fmt.Errorf("found %d YAML, %d systemd and %d cron files under %s; expected some of each", len(yamls), len(units), len(crons), root))
	}

	var objs []object
	for _, p := range yamls {
		o, es := loadYAML(p)
		objs = append(objs, o...)
		add(es...)
	}
	add(checkObjects(root, objs)...)
	add(checkUnits(units)...)
	for _, p := range crons {
		add(checkCron(p)...)
	}
	add(checkDockerfile(filepath.Join(root, "Dockerfile"))...)
	return errs
}

// ---------------------------------------------------------------------------
// YAML: Kubernetes, Kustomize and Prometheus Operator documents.

// object is one YAML document, decoded strictly into its type.
type object struct {
	file  string
	kind  string
	name  string
	node  *yaml.Node
	value any
}

func (o object) String() string { return fmt.Sprintf("%s: %s %q", o.file, o.kind, o.name) }

// kinds lists the documents deploy/ may hold, with their API version and
// type: the Kubernetes API's own types for the built-in kinds; for the two
// that are not API objects of Kubernetes itself, the fields these files use.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"CronJob":        {"batch/v1", func() any { return new(batchv1.CronJob) }},
	"Job":            {"batch/v1", func() any { return new(batchv1.Job) }},
	"ConfigMap":      {"v1", func() any { return new(corev1.ConfigMap) }},
	"Secret":         {"v1", func() any { return new(corev1.Secret) }},
	"ServiceAccount": {"v1", func() any { return new(corev1.ServiceAccount) }},
	// A CRD of the Prometheus Operator: its spec.groups are checked by promtool.
	"PrometheusRule": {"monitoring.coreos.com/v1", func() any { return new(prometheusRule) }},
	// A kustomize build file, not an API object.
	"Kustomization": {"kustomize.config.k8s.io/v1beta1", func() any { return new(kustomization) }},
}

type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []json.RawMessage `json:"groups"`
	} `json:"spec"`
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
		Digest  string `json:"digest"`
	} `json:"images"`
}

// loadYAML decodes every document of a (multi-document) YAML file.
func loadYAML(p string) ([]object, []error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, []error{err}
	}
	var objs []object
	var errs []error
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return objs, append(errs, fmt.Errorf("%s: document %d: %w", p, i, err))
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue // a "---" with only comments
		}
		o, err := decodeObject(p, doc.Content[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", p, i, err))
			continue
		}
		objs = append(objs, o)
	}
	return objs, errs
}

func decodeObject(file string, n *yaml.Node) (object, error) {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	if err := n.Decode(&head); err != nil {
		return object{}, err
	}
	if head.APIVersion == "" || head.Kind == "" {
		return object{}, errors.New("missing apiVersion or kind")
	}
	k, ok := kinds[head.Kind]
	if !ok {
		return object{}, fmt.Errorf("unknown kind %q (typo, or add it to kinds in deploy_test.go)", head.Kind)
	}
	if head.APIVersion != k.apiVersion {
		return object{}, fmt.Errorf("%s has apiVersion %q, want %q", head.Kind, head.APIVersion, k.apiVersion)
	}
	if head.Metadata.Name == "" && head.Kind != "Kustomization" {
		return object{}, fmt.Errorf("%s without metadata.name", head.Kind)
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return object{}, err
	}
	v := k.new()
	// Decoded as the API server decodes (sigs.k8s.io/json): field names are
	// case-sensitive, and unknown or duplicate fields are errors, as with
	// kubectl --validate=strict. The YAML is converted without looking at
	// the target type, so a number where a string belongs stays an error.
	js, err := sigsyaml.YAMLToJSONStrict(raw)
	if err != nil {
		return object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
	}
	strict, err := kjson.UnmarshalStrict(js, v)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err != nil {
		return object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
	}
	return object{file: file, kind: head.Kind, name: head.Metadata.Name, node: n, value: v}, nil
}

// archiverCommands are the CLI's commands; a container's args start with one.
func archiverCommands() []string {
	var out []string
	for _, c := range cli.New(io.Discard, io.Discard, cli.Build{}).Commands {
		out = append(out, c.Name)
	}
	return out
}

// knownEnv is every variable the archiver or its storage drivers read, so
// that a misspelt ConfigMap or Secret key (silently ignored at run time)
// fails here.
func knownEnv() map[string]bool {
	m := map[string]bool{
		"VERCEL_BLOB_RW_TOKEN": true, "VERCEL_BLOB_BASE_URL": true,
		"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_REGION": true,
		"GOOGLE_APPLICATION_CREDENTIALS": true, "AZURE_STORAGE_ACCOUNT": true, "AZURE_STORAGE_KEY": true,
		"GOMEMLIMIT": true, "ARCHIVER_CONFIG": true, "NO_COLOR": true, "ARCHIVER_ENV_FILE": true,
	}
	for _, s := range config.Settings() {
		for _, e := range s.Env {
			m[e] = true
		}
	}
	return m
}

// wantArgs are the commands each scheduled object runs.
var wantArgs = map[string][]string{
	"archiver": {"archive"}, "archiver-verify": {"verify", "--deep", "--drill", "3"}, "archiver-status": {"status"},
	"archiver-migrate": {"migrate", "up"}, "archiver-backfill": {"archive"},
}

// checkObjects holds the project's own assertions on the decoded objects.
func checkObjects(root string, objs []object) []error {
	var errs []error
	fail := func(o object, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
	}
	env := knownEnv()
	commands := archiverCommands()
	names := map[string]map[string]bool{} // kind -> names
	for _, o := range objs {
		if names[o.kind] == nil {
			names[o.kind] = map[string]bool{}
		}
		names[o.kind][o.name] = true
	}
	var images []string

	checkPod := func(o object, spec *corev1.PodSpec) {
		if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
			fail(o, "restartPolicy %q, want OnFailure or Never (a Job cannot use Always)", spec.RestartPolicy)
		}
		if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			fail(o, "pod securityContext.runAsNonRoot must be true")
		}
		// The archiver never calls the Kubernetes API: no token in the pod.
		if spec.ServiceAccountName != "archiver" || !names["ServiceAccount"]["archiver"] {
			fail(o, "serviceAccountName %q, want the archiver ServiceAccount defined in deploy/", spec.ServiceAccountName)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			fail(o, "automountServiceAccountToken must be false")
		}
		if len(spec.Containers) == 0 {
			fail(o, "no containers")
		}
		volumes := map[string]bool{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = true
		}
		for i, c := range append(slices.Clone(spec.Containers), spec.InitContainers...) {
			images = append(images, c.Image)
			if len(c.Args) == 0 || !slices.Contains(commands, c.Args[0]) {
				fail(o, "container %q args %q do not start with an archiver command %v", c.Name, c.Args, commands)
			}
			if want, ok := wantArgs[o.name]; i == 0 && (!ok || !slices.Equal(c.Args, want)) {
				fail(o, "container %q args %q, want %q", c.Name, c.Args, want)
			}
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				fail(o, "container %q: securityContext.readOnlyRootFilesystem must be true", c.Name)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				fail(o, "container %q: securityContext.allowPrivilegeEscalation must be false", c.Name)
			}
			lim, req := c.Resources.Limits[corev1.ResourceMemory], c.Resources.Requests[corev1.ResourceMemory]
			if lim.IsZero() || req.IsZero() || req.Cmp(lim) > 0 {
				fail(o, "container %q: memory request %s and limit %s: want both, request <= limit", c.Name, req.String(), lim.String())
			}
			if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
				fail(o, "container %q has no CPU request", c.Name)
			}
			for _, ef := range c.EnvFrom {
				switch {
				case ef.ConfigMapRef != nil && !names["ConfigMap"][ef.ConfigMapRef.Name]:
					fail(o, "container %q: envFrom ConfigMap %q is not defined in deploy/", c.Name, ef.ConfigMapRef.Name)
				case ef.SecretRef != nil && !names["Secret"][ef.SecretRef.Name]:
					fail(o, "container %q: envFrom Secret %q is not defined in deploy/ (not even as an example)", c.Name, ef.SecretRef.Name)
				case ef.ConfigMapRef == nil && ef.SecretRef == nil:
					fail(o, "container %q: empty envFrom entry", c.Name)
				}
			}
			for _, e := range c.Env {
				if !env[e.Name] {
					fail(o, "container %q: env %s is read by nothing", c.Name, e.Name)
				}
			}
			// The API server's validation is not available offline; these
			// two mistakes are the ones that break a pod at start.
			for _, vm := range c.VolumeMounts {
				if !volumes[vm.Name] {
					fail(o, "container %q mounts undefined volume %q", c.Name, vm.Name)
				}
				if !path.IsAbs(vm.MountPath) {
					fail(o, "container %q: mountPath %q is not absolute", c.Name, vm.MountPath)
				}
			}
		}
	}

	var cronJobs, kustomizations, rules int
	for _, o := range objs {
		switch v := o.value.(type) {
		case *batchv1.CronJob:
			cronJobs++
			s := &v.Spec
			if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				fail(o, "concurrencyPolicy %q, want Forbid: overlapping runs only wait on each other", s.ConcurrencyPolicy)
			}
			if _, err := cron.ParseStandard(s.Schedule); err != nil {
				fail(o, "schedule %q: %v", s.Schedule, err)
			}
			if s.TimeZone == nil {
				fail(o, "no timeZone: the schedule would follow the controller's zone")
			} else if _, err := time.LoadLocation(*s.TimeZone); err != nil {
				fail(o, "timeZone %q: %v", *s.TimeZone, err)
			}
			if s.StartingDeadlineSeconds == nil {
				fail(o, "no startingDeadlineSeconds")
			}
			js := &s.JobTemplate.Spec
			if js.BackoffLimit == nil || *js.BackoffLimit > 6 {
				fail(o, "backoffLimit must be set and small")
			}
			if js.ActiveDeadlineSeconds == nil {
				fail(o, "no activeDeadlineSeconds: a hung run would never end")
			}
			checkPod(o, &js.Template.Spec)
		case *batchv1.Job:
			if v.Spec.ActiveDeadlineSeconds == nil {
				fail(o, "no activeDeadlineSeconds")
			}
			if o.name == "archiver-backfill" {
				errs = append(errs, checkBackfill(o, v)...)
			}
			checkPod(o, &v.Spec.Template.Spec)
		case *corev1.ServiceAccount:
			if v.AutomountServiceAccountToken == nil || *v.AutomountServiceAccountToken {
				fail(o, "automountServiceAccountToken must be false")
			}
		case *corev1.ConfigMap:
			errs = append(errs, checkEnvKeys(o, v.Data, env)...)
		case *corev1.Secret:
			errs = append(errs, checkEnvKeys(o, v.StringData, env)...)
			if strings.Contains(filepath.Base(o.file), ".example.") {
				for k, val := range v.StringData {
					if !strings.Contains(val, "CHANGE-ME") {
						fail(o, "%s looks like a real value; example secrets hold CHANGE-ME placeholders only", k)
					}
				}
			}
		case *prometheusRule:
			rules++
			errs = append(errs, checkRules(root, o, v)...)
		case *kustomization:
			kustomizations++
			errs = append(errs, checkKustomization(o, v)...)
		}
	}
	for _, name := range []string{"archiver", "archiver-verify", "archiver-status"} {
		if !names["CronJob"][name] {
			errs = append(errs, fmt.Errorf("no CronJob %s", name))
		}
	}
	if cronJobs != 3 || kustomizations != 1 || rules != 1 {
		errs = append(errs, fmt.Errorf("found %d CronJobs, %d Kustomizations and %d PrometheusRules, want 3, 1 and 1", cronJobs, kustomizations, rules))
	}
	for _, o := range objs {
		if k, ok := o.value.(*kustomization); ok {
			for _, img := range k.Images {
				if !slices.Contains(images, img.Name) {
					fail(o, "images entry %q matches no container image %q", img.Name, images)
				}
			}
		}
	}
	return errs
}

// checkEnvKeys: every key is a variable the archiver reads.
func checkEnvKeys(o object, m map[string]string, env map[string]bool) []error {
	var errs []error
	if len(m) == 0 {
		errs = append(errs, fmt.Errorf("%s: no entries", o))
	}
	for k := range m {
		if !env[k] {
			errs = append(errs, fmt.Errorf("%s: key %s is read by nothing (typo?)", o, k))
		}
	}
	return errs
}

// checkRules runs promtool on the PrometheusRule's groups (syntax, PromQL,
// durations, templates) and its unit tests, then checks from the PromQL
// syntax tree that every metric is one the archiver exports.
func checkRules(root string, o object, pr *prometheusRule) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
	}
	promtool, err := tool("promtool", "prometheus")
	if err != nil {
		return []error{err}
	}
	groups, err := json.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		return []error{err}
	}
	dir, err := os.MkdirTemp("", "archiver-rules-")
	if err != nil {
		return []error{err}
	}
	defer os.RemoveAll(dir)
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, groups, 0o644); err != nil { // JSON is YAML
		return []error{err}
	}
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		fail("promtool check rules: %v\n%s", err, out)
	}
	tests, err := os.ReadFile(filepath.Join(root, "prometheus", "rules.test.yaml"))
	if err != nil {
		fail("alert unit tests: %v", err)
	} else {
		testFile := filepath.Join(dir, "rules.test.yaml")
		if err := os.WriteFile(testFile, tests, 0o644); err != nil {
			return append(errs, err)
		}
		cmd := exec.Command(promtool, "test", "rules", "rules.test.yaml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fail("promtool test rules (deploy/prometheus/rules.test.yaml): %v\n%s", err, out)
		}
	}

	var parsed struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(groups, &parsed); err != nil {
		return append(errs, err)
	}
	known := metrics.Exported()
	alerts := map[string]bool{}
	for _, g := range parsed.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			names, err := metricNames(r.Expr)
			if err != nil {
				continue // promtool reported it
			}
			for _, name := range names {
				if !known[name] {
					fail("rule %q uses %s, which internal/metrics does not export", r.Alert+r.Record, name)
				}
			}
		}
	}
	for _, want := range []string{"ArchiverNotSucceeding", "ArchiverDaysFailed", "ArchiverRawPurgeHeld", "ArchiverVerifyFoundProblems", "ArchiverVerifyNotSucceeding", "ArchiverDayPending"} {
		if !alerts[want] {
			fail("no alert %s", want)
		}
	}
	return errs
}

// metricNames returns the metric name of every selector in a PromQL
// expression, as the Prometheus parser reads it.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// checkKustomization makes sure every listed resource exists, every
// manifest beside it is listed (except examples: applying an example secret
// would overwrite the real one), and the image is pinned.
// checkBackfill: the backfill Job is Indexed, and its COUNT agrees in
// completions, parallelism and ARCHIVER_SHARD_COUNT: a worker given an
// index beyond the shard count would refuse to start, and fewer workers
// than shards would leave days nobody archives.
func checkBackfill(o object, j *batchv1.Job) []error {
	var errs []error
	if j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion {
		errs = append(errs, fmt.Errorf("%s: completionMode must be Indexed", o))
	}
	if j.Spec.Completions == nil || j.Spec.Parallelism == nil || *j.Spec.Completions != *j.Spec.Parallelism {
		errs = append(errs, fmt.Errorf("%s: completions and parallelism must be set and equal", o))
		return errs
	}
	count := ""
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "ARCHIVER_SHARD_COUNT" {
			count = e.Value
		}
	}
	if count != fmt.Sprint(*j.Spec.Completions) {
		errs = append(errs, fmt.Errorf("%s: ARCHIVER_SHARD_COUNT %q, want completions %d", o, count, *j.Spec.Completions))
	}
	return errs
}

func checkKustomization(o object, k *kustomization) []error {
	var errs []error
	dir := filepath.Dir(o.file)
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			errs = append(errs, fmt.Errorf("%s: resource %s: %w", o, r, err))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return append(errs, err)
	}
	for _, e := range entries {
		n := e.Name()
		ext := filepath.Ext(n)
		// backfill-job.yaml is applied on its own, for a backlog, never
		// by every deploy.
		if (ext != ".yaml" && ext != ".yml") || n == filepath.Base(o.file) || strings.Contains(n, ".example.") || n == "backfill-job.yaml" {
			continue
		}
		if !slices.Contains(k.Resources, n) {
			errs = append(errs, fmt.Errorf("%s: %s is not listed in resources", o, n))
		}
	}
	for _, img := range k.Images {
		if img.Digest == "" && (img.NewTag == "" || img.NewTag == "latest") {
			errs = append(errs, fmt.Errorf("%s: image %s is not pinned: set newTag to a release tag or digest to sha256:…", o, img.Name))
		}
	}
	return errs
}

// ---------------------------------------------------------------------------
// Cron.

var envLineRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// checkCron checks a file for /etc/cron.d: a schedule, a user and a command
// that takes a lock and logs.
func checkCron(p string) []error {
	b, err := os.ReadFile(p)
	if err != nil {
		return []error{err}
	}
	var errs []error
	jobs := 0
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || envLineRE.MatchString(line) {
			continue
		}
		jobs++
		where := fmt.Sprintf("%s:%d", p, n+1)
		f := strings.Fields(line)
		if len(f) < 7 {
			errs = append(errs, fmt.Errorf("%s: want 5 schedule fields, a user and a command: %q", where, line))
			continue
		}
		if _, err := cron.ParseStandard(strings.Join(f[:5], " ")); err != nil {
			errs = append(errs, fmt.Errorf("%s: schedule: %w", where, err))
		}
		user, cmd := f[5], strings.Join(f[6:], " ")
		if user == "root" || user == "0" {
			errs = append(errs, fmt.Errorf("%s: runs as root", where))
		}
		if f[6] != "flock" {
			errs = append(errs, fmt.Errorf("%s: command must start with flock so runs cannot overlap", where))
		}
		if !strings.Contains(cmd, "archiver archive") || !strings.Contains(cmd, ">>") || !strings.HasSuffix(cmd, "2>&1") {
			errs = append(errs, fmt.Errorf("%s: command must run `archiver archive` and append stdout and stderr to a log", where))
		}
		// cron turns an unescaped % into a newline and feeds the rest to stdin.
		if strings.Contains(strings.ReplaceAll(cmd, `\%`, ""), "%") {
			errs = append(errs, fmt.Errorf("%s: unescaped %% in a cron command", where))
		}
	}
	if jobs != 1 {
		errs = append(errs, fmt.Errorf("%s: %d job lines, want 1", p, jobs))
	}
	return errs
}

// ---------------------------------------------------------------------------
// systemd units.

// checkUnits runs systemd-analyze verify on copies of the units whose
// ExecStart points at the built binary (any message it prints is an
// error: it only warns about unknown keys and unparsable values, and
// starts the unit without them), then checks the project's assertions.
func checkUnits(paths []string) []error {
	var errs []error
	analyze, err := tool("systemd-analyze", "systemd")
	if err != nil {
		return []error{err}
	}
	bin, err := archiverBinary()
	if err != nil {
		return []error{err}
	}
	dir, err := os.MkdirTemp("", "archiver-units-")
	if err != nil {
		return []error{err}
	}
	defer os.RemoveAll(dir)
	var copies []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return append(errs, err)
		}
		c := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(c, bytes.ReplaceAll(b, []byte("/usr/local/bin/archiver"), []byte(bin)), 0o644); err != nil {
			return append(errs, err)
		}
		copies = append(copies, c)
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, copies...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		errs = append(errs, fmt.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(paths, " "), err, strings.ReplaceAll(string(out), dir+"/", "")))
	}

	services := 0
	for _, p := range paths {
		u, err := parseUnit(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
		}
		switch filepath.Ext(p) {
		case ".service":
			services++
			if t := u.get("Service", "Type"); t != "oneshot" {
				fail("Type=%s, want oneshot: a batch run is done when its process exits", t)
			}
			if user := u.get("Service", "User"); user == "" || user == "root" || user == "0" {
				fail("User=%q, want a dedicated non-root user", user)
			}
			// The archiver reads the env file itself, as the cron line has
			// it do: one parser for both (see internal/envfile).
			if u.get("Service", "EnvironmentFile") != "" {
				fail("EnvironmentFile= set: point ARCHIVER_ENV_FILE at the file instead, so that systemd and cron read it the same way")
			}
			envFile := false
			for _, v := range u["Service"]["Environment"] {
				envFile = envFile || strings.HasPrefix(v, "ARCHIVER_ENV_FILE=/")
			}
			if !envFile {
				fail("no Environment=ARCHIVER_ENV_FILE=/path for DATABASE_URL and tokens")
			}
			want := map[string]string{"archiver.service": "archive", "archiver-verify.service": "verify --deep --drill 3", "archiver-status.service": "status"}[filepath.Base(p)]
			if exec := u.get("Service", "ExecStart"); want == "" || exec != "/usr/local/bin/archiver "+want {
				fail("ExecStart=%q, want /usr/local/bin/archiver %s", exec, want)
			}
			for key, vals := range u["Service"] {
				for _, v := range vals {
					if strings.HasPrefix(key, "Exec") && strings.Contains(v, "migrate") {
						fail("%s runs migrations; they belong to deploys, not to every scheduled run", key)
					}
				}
			}
			for key, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes"} {
				if got := u.get("Service", key); got != want {
					fail("%s=%q, want %q", key, got, want)
				}
			}
		case ".timer":
			target := u.get("Timer", "Unit")
			if target == "" {
				target = strings.TrimSuffix(filepath.Base(p), ".timer") + ".service"
			}
			if !slices.ContainsFunc(paths, func(q string) bool { return filepath.Base(q) == target }) {
				fail("triggers %s, which is not a service file beside it", target)
			}
			if filepath.Base(p) != "archiver-status.timer" && u.get("Timer", "Persistent") != "true" {
				fail("Persistent is not true: a run missed while the host was down would be skipped")
			}
		}
	}
	if services != 3 {
		errs = append(errs, fmt.Errorf("found %d services, want archiver, archiver-verify and archiver-status", services))
	}
	return errs
}

// unit maps section -> key -> values, for the project's assertions only;
// systemd-analyze judges the syntax.
type unit map[string]map[string][]string

func parseUnit(p string) (unit, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case section != "":
			key, val, _ := strings.Cut(line, "=")
			u[section][strings.TrimSpace(key)] = append(u[section][strings.TrimSpace(key)], strings.TrimSpace(val))
		}
	}
	return u, sc.Err()
}

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// ---------------------------------------------------------------------------
// Dockerfile.

var dockerInstructions = []string{"FROM", "ARG", "ENV", "WORKDIR", "COPY", "ADD", "RUN", "USER",
	"ENTRYPOINT", "CMD", "LABEL", "EXPOSE", "VOLUME", "HEALTHCHECK", "SHELL", "STOPSIGNAL"}

type instruction struct {
	line      int
	cmd, args string
}

type stage struct {
	name  string
	instr []instruction
}

func parseDockerfile(p string) ([]stage, []error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, []error{err}
	}
	var errs []error
	var stages []stage
	global := &stage{name: "(global)"}
	cur := global
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			line = strings.TrimSuffix(line, `\`) + " " + next
		}
		cmd, args, _ := strings.Cut(line, " ")
		if !slices.Contains(dockerInstructions, cmd) {
			errs = append(errs, fmt.Errorf("%s:%d: unknown instruction %q", p, start, cmd))
			continue
		}
		in := instruction{line: start, cmd: cmd, args: strings.TrimSpace(args)}
		if cmd == "FROM" {
			f := strings.Fields(in.args)
			name := ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			} else if len(f) != 1 {
				errs = append(errs, fmt.Errorf("%s:%d: FROM %q, want FROM image [AS name]", p, start, in.args))
			}
			stages = append(stages, stage{name: name})
			cur = &stages[len(stages)-1]
		}
		cur.instr = append(cur.instr, in)
	}
	return append([]stage{*global}, stages...), errs
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// declaresArg reports whether s has ARG name: an ARG before the first FROM
// is visible only to FROM lines, not inside a stage.
func (s stage) declaresArg(name string) bool {
	for _, in := range s.all("ARG") {
		if n, _, _ := strings.Cut(in.args, "="); n == name {
			return true
		}
	}
	return false
}

func checkDockerfile(p string) []error {
	stages, errs := parseDockerfile(p)
	if len(stages) < 3 {
		return append(errs, fmt.Errorf("%s: want a builder stage and a final stage", p))
	}
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	global, builds, final := stages[0], stages[1:len(stages)-1], stages[len(stages)-1]

	var builder *stage
	for i := range builds {
		if builds[i].name == "builder" {
			builder = &builds[i]
		}
	}
	if builder == nil {
		return append(errs, fmt.Errorf("%s: no FROM ... AS builder stage", p))
	}
	for _, s := range stages[1:] {
		from := s.instr[0]
		for _, ref := range regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(from.args, -1) {
			if !global.declaresArg(ref[1]) {
				fail("line %d: FROM uses $%s, which no ARG before the first FROM declares", from.line, ref[1])
			}
		}
	}

	build := ""
	for _, in := range builder.all("RUN") {
		if strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/archiver"} {
		if !strings.Contains(build, want) {
			fail("builder's go build lacks %q", want)
		}
	}
	for _, arg := range []string{"VERSION", "COMMIT"} {
		if !builder.declaresArg(arg) {
			fail("builder stage does not declare ARG %s; ${%s} would be empty", arg, arg)
		}
	}

	if final.name == "builder" {
		fail("the final stage is the builder: the image would ship the Go toolchain")
	}
	copied := false
	for _, in := range final.all("COPY") {
		if strings.Contains(in.args, "--from=builder") && strings.Contains(in.args, "/archiver") {
			copied = true
		}
	}
	if !copied {
		fail("final stage does not COPY --from=builder the binary to /archiver")
	}
	user, ok := final.last("USER")
	if !ok {
		fail("final stage has no USER: the container would run as root")
	} else if name, _, _ := strings.Cut(user.args, ":"); name == "" || name == "root" || name == "0" {
		fail("line %d: USER %s is root", user.line, user.args)
	}
	for cmd, want := range map[string][]string{"ENTRYPOINT": {"/archiver"}, "CMD": {"archive"}} {
		in, ok := final.last(cmd)
		if !ok {
			fail("final stage has no %s", cmd)
			continue
		}
		// Exec form: the shell form would run under /bin/sh, which the
		// image does not have, and would swallow SIGTERM.
		var got []string
		if err := json.Unmarshal([]byte(in.args), &got); err != nil {
			fail("line %d: %s %s is not the JSON exec form: %v", in.line, cmd, in.args, err)
		} else if !slices.Equal(got, want) {
			fail("line %d: %s %q, want %q", in.line, cmd, got, want)
		}
	}
	return errs
}

// TestDockerignore: the build context (the repository root) leaves out
// local state that must never reach an image layer (credentials in .env, a
// demo database, benchmark clusters) and keeps what the build needs.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines[l] = true
		}
	}
	for _, want := range []string{".git", ".env", ".demo/", ".tmp/", "bin/", "node_modules/"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, need := range []string{"go.mod", "go.sum", "cmd/", "internal/", "migrations/", "backends/"} {
		for l := range lines {
			if !strings.HasPrefix(l, "!") && strings.TrimSuffix(l, "/") == strings.TrimSuffix(need, "/") {
				t.Errorf(".dockerignore excludes %s, which the build needs", need)
			}
		}
	}
}
