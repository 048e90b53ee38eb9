package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/metrics"
)

// The checks return problems instead of failing the test directly, so that
// TestTyposAreCaught can run them on deliberately broken copies.

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
		{"kubernetes/cronjob.yaml", `memory: "128Mi"`, `memory: "128MB"`},
		{"kubernetes/cronjob.yaml", "mountPath: /tmp", "mountPath: tmp"},
		{"kubernetes/cronjob.yaml", "- name: tmp\n              emptyDir", "- name: temp\n              emptyDir"},
		{"kubernetes/cronjob.yaml", `args: ["archive"]`, `args: ["archvie"]`},
		{"kubernetes/cronjob.yaml", "  name: archiver\n  labels", "  nme: archiver\n  labels"},
		{"kubernetes/configmap.yaml", "ARCHIVER_CONCURRENCY:", "ARCHIVER_CONCURENCY:"},
		{"kubernetes/configmap.yaml", `ARCHIVER_BATCH_SIZE: "1000"`, `ARCHIVER_BATCH_SIZE: 1000`},
		{"kubernetes/configmap.yaml", "name: archiver-config", "name: archiver-configs"},
		{"kubernetes/migrate-job.yaml", `          args: ["migrate", "up"]`, `          args: ["migrate", "upp"]`},
		{"kubernetes/secret.example.yaml", "kind: Secret", "kind: Secrets"},
		{"kubernetes/secret.example.yaml", "vercel_blob_rw_CHANGE-ME", "vercel_blob_rw_1234"},
		{"kubernetes/prometheus-rules.yaml", "archiver_days_failed_total", "archiver_day_failed_total"},
		{"kubernetes/prometheus-rules.yaml", "alert: ArchiverNotSucceeding", "alert: ArchiverNotSucceding"},
		{"kubernetes/prometheus-rules.yaml", "for: 10m", "for: 10 minutes"},
		{"kubernetes/kustomization.yaml", "- cronjob.yaml", "- cronjobs.yaml"},
		{"kubernetes/kustomization.yaml", "  - name: archiver\n", "  - name: archivr\n"},
		{"systemd/archiver.service", "ProtectSystem=strict", "ProtectSytem=strict"},
		{"systemd/archiver.service", "Type=oneshot", "Type=simple"},
		{"systemd/archiver.service", "[Service]", "[Servce]"},
		{"systemd/archiver.service", "User=archiver", "User=root"},
		{"systemd/archiver.service", "NoNewPrivileges=yes", "NoNewPrivileges=yess"},
		{"systemd/archiver.service", "ExecStart=/usr/local/bin/archiver archive", "ExecStart=/usr/local/bin/archiver archive\nExecStartPre=/usr/local/bin/archiver migrate up"},
		{"systemd/archiver.timer", "Unit=archiver.service", "Unit=archiver.servce"},
		{"systemd/archiver.timer", "Persistent=true", "Persistent=ture"},
		{"systemd/archiver.timer", "RandomizedDelaySec=10m", "RandomizedDelaySec=10 mins"},
		{"cron/archiver.cron", "0 2 * * * archiver", "0 2 * * archiver"},
		{"cron/archiver.cron", "0 2 * * * archiver", "0 25 * * * archiver"},
		{"cron/archiver.cron", "flock -n -E 3", "-n -E 3"},
		{"cron/archiver.cron", "archiver.log 2>&1", "archiver-$(date +%F).log 2>&1"},
		{"Dockerfile", "USER 65532:65532", "USER root"},
		{"Dockerfile", "AS builder", "AS build"},
		{"Dockerfile", `ENTRYPOINT ["/archiver"]`, `ENTRYPIONT ["/archiver"]`},
		{"Dockerfile", `ENTRYPOINT ["/archiver"]`, `ENTRYPOINT ["/archiver]`},
		{"Dockerfile", "ARG VERSION=dev", "ARG VERSOIN=dev"},
		{"Dockerfile", "CGO_ENABLED=0 ", ""},
	} {
		t.Run(m.file+": "+m.new, func(t *testing.T) {
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

// checkTree checks every deploy file under root.
func checkTree(root string) []error {
	var errs []error
	add := func(es ...error) { errs = append(errs, es...) }

	var yamls, units, crons []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			yamls = append(yamls, p)
		case ".service", ".timer":
			units = append(units, p)
		case ".cron":
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
	add(checkObjects(objs)...)
	add(checkUnits(units)...)
	for _, p := range crons {
		add(checkCron(p)...)
	}
	add(checkDockerfile(filepath.Join(root, "Dockerfile"))...)
	return errs
}

// ---------------------------------------------------------------------------
// YAML: Kubernetes, Kustomize and Prometheus Operator documents.

// object is one parsed YAML document with its strictly decoded form.
type object struct {
	file  string
	kind  string
	name  string
	node  *yaml.Node
	value any
}

func (o object) String() string { return fmt.Sprintf("%s: %s %q", o.file, o.kind, o.name) }

// kinds lists the documents deploy/ may hold, with their API version and
// a schema. The schemas are the subset of the real ones these files use;
// decoding with KnownFields rejects any other key, so a misspelt field
// fails here instead of being ignored by the API server (which only warns).
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"CronJob":        {"batch/v1", func() any { return new(cronJob) }},
	"Job":            {"batch/v1", func() any { return new(job) }},
	"ConfigMap":      {"v1", func() any { return new(configMap) }},
	"Secret":         {"v1", func() any { return new(secret) }},
	"PrometheusRule": {"monitoring.coreos.com/v1", func() any { return new(prometheusRule) }},
	"Kustomization":  {"kustomize.config.k8s.io/v1beta1", func() any { return new(kustomization) }},
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// typeMeta is the header every API object shares.
type typeMeta struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type cronJob struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Schedule                   string `yaml:"schedule"`
		TimeZone                   string `yaml:"timeZone"`
		ConcurrencyPolicy          string `yaml:"concurrencyPolicy"`
		StartingDeadlineSeconds    *int64 `yaml:"startingDeadlineSeconds"`
		SuccessfulJobsHistoryLimit *int32 `yaml:"successfulJobsHistoryLimit"`
		FailedJobsHistoryLimit     *int32 `yaml:"failedJobsHistoryLimit"`
		Suspend                    *bool  `yaml:"suspend"`
		JobTemplate                struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     jobSpec    `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type job struct {
	typeMeta `yaml:",inline"`
	Spec     jobSpec `yaml:"spec"`
}

type jobSpec struct {
	BackoffLimit            *int32 `yaml:"backoffLimit"`
	ActiveDeadlineSeconds   *int64 `yaml:"activeDeadlineSeconds"`
	TTLSecondsAfterFinished *int32 `yaml:"ttlSecondsAfterFinished"`
	Template                struct {
		Metadata objectMeta `yaml:"metadata"`
		Spec     podSpec    `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	RestartPolicy                string      `yaml:"restartPolicy"`
	Hostname                     string      `yaml:"hostname"`
	ServiceAccountName           string      `yaml:"serviceAccountName"`
	AutomountServiceAccountToken *bool       `yaml:"automountServiceAccountToken"`
	SecurityContext              *securityCx `yaml:"securityContext"`
	InitContainers               []container `yaml:"initContainers"`
	Containers                   []container `yaml:"containers"`
	Volumes                      []struct {
		Name     string `yaml:"name"`
		EmptyDir *struct {
			Medium    string `yaml:"medium"`
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

// securityCx merges the pod and container securityContext fields used here.
type securityCx struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	SeccompProfile           *struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
	Capabilities *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Env             []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityCx `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type configMap struct {
	typeMeta `yaml:",inline"`
	Data     map[string]string `yaml:"data"`
}

type secret struct {
	typeMeta   `yaml:",inline"`
	Type       string            `yaml:"type"`
	StringData map[string]string `yaml:"stringData"`
}

type prometheusRule struct {
	typeMeta `yaml:",inline"`
	Spec     struct {
		Groups []struct {
			Name     string `yaml:"name"`
			Interval string `yaml:"interval"`
			Rules    []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
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
	var head typeMeta
	if err := n.Decode(&head); err != nil {
		return object{}, err
	}
	if head.APIVersion == "" || head.Kind == "" {
		return object{}, errors.New("missing apiVersion or kind")
	}
	k, ok := kinds[head.Kind]
	if !ok {
		return object{}, fmt.Errorf("unknown kind %q (typo, or add its schema to deploy_test.go)", head.Kind)
	}
	if head.APIVersion != k.apiVersion {
		return object{}, fmt.Errorf("%s has apiVersion %q, want %q", head.Kind, head.APIVersion, k.apiVersion)
	}
	// A Kustomization is a build file, not an API object: it has no name.
	if head.Metadata.Name == "" && head.Kind != "Kustomization" {
		return object{}, fmt.Errorf("%s without metadata.name", head.Kind)
	}
	// yaml.v3 has KnownFields only on a Decoder, so re-encode the node.
	raw, err := yaml.Marshal(n)
	if err != nil {
		return object{}, err
	}
	v := k.new()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
	}
	return object{file: file, kind: head.Kind, name: head.Metadata.Name, node: n, value: v}, nil
}

// archiverCommands are the CLI's commands; a container's args start with one.
var archiverCommands = []string{"archive", "restore", "verify", "list", "migrate", "version", "backends"}

// knownEnv is every variable the archiver or its storage drivers read, so
// that a misspelt ConfigMap or Secret key (silently ignored at run time)
// fails here.
func knownEnv() map[string]bool {
	m := map[string]bool{
		"VERCEL_BLOB_RW_TOKEN": true, "VERCEL_BLOB_BASE_URL": true,
		"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_REGION": true,
		"GOOGLE_APPLICATION_CREDENTIALS": true, "AZURE_STORAGE_ACCOUNT": true, "AZURE_STORAGE_KEY": true,
		"GOMEMLIMIT": true, "ARCHIVER_CONFIG": true,
	}
	for _, s := range config.Settings() {
		for _, e := range s.Env {
			m[e] = true
		}
	}
	return m
}

var quantityRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)

func checkObjects(objs []object) []error {
	var errs []error
	fail := func(o object, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
	}
	env := knownEnv()
	names := map[string]map[string]bool{} // kind -> names
	for _, o := range objs {
		if names[o.kind] == nil {
			names[o.kind] = map[string]bool{}
		}
		names[o.kind][o.name] = true
	}
	var images []string

	checkPod := func(o object, spec *podSpec, wantArgs []string) {
		if spec.RestartPolicy != "OnFailure" && spec.RestartPolicy != "Never" {
			fail(o, "restartPolicy %q, want OnFailure or Never (a Job cannot use Always)", spec.RestartPolicy)
		}
		if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			fail(o, "pod securityContext.runAsNonRoot must be true")
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
			if len(c.Args) == 0 || !slices.Contains(archiverCommands, c.Args[0]) {
				fail(o, "container %q args %q do not start with an archiver command %v", c.Name, c.Args, archiverCommands)
			}
			if i == 0 && wantArgs != nil && !slices.Equal(c.Args, wantArgs) {
				fail(o, "container %q args %q, want %q", c.Name, c.Args, wantArgs)
			}
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				fail(o, "container %q: securityContext.readOnlyRootFilesystem must be true", c.Name)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				fail(o, "container %q: securityContext.allowPrivilegeEscalation must be false", c.Name)
			}
			if c.Resources.Limits["memory"] == "" {
				fail(o, "container %q has no memory limit", c.Name)
			}
			for _, q := range []map[string]string{c.Resources.Requests, c.Resources.Limits} {
				for res, v := range q {
					if res != "cpu" && res != "memory" && res != "ephemeral-storage" {
						fail(o, "container %q: unknown resource %q", c.Name, res)
					}
					if !quantityRE.MatchString(v) {
						fail(o, "container %q: %s %q is not a Kubernetes quantity", c.Name, res, v)
					}
				}
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

	var cronJobs, kustomizations int
	for _, o := range objs {
		switch v := o.value.(type) {
		case *cronJob:
			cronJobs++
			s := &v.Spec
			if s.ConcurrencyPolicy != "Forbid" {
				fail(o, "concurrencyPolicy %q, want Forbid: overlapping runs only wait on each other", s.ConcurrencyPolicy)
			}
			if err := checkSchedule(s.Schedule); err != nil {
				fail(o, "schedule: %v", err)
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
			checkPod(o, &js.Template.Spec, []string{"archive"})
		case *job:
			if v.Spec.ActiveDeadlineSeconds == nil {
				fail(o, "no activeDeadlineSeconds")
			}
			var want []string
			if v.Metadata.Name == "archiver-migrate" {
				want = []string{"migrate", "up"}
			}
			checkPod(o, &v.Spec.Template.Spec, want)
		case *configMap:
			errs = append(errs, checkEnvMap(o, "data", env)...)
		case *secret:
			errs = append(errs, checkEnvMap(o, "stringData", env)...)
			if strings.Contains(filepath.Base(o.file), ".example.") {
				for k, val := range v.StringData {
					if !strings.Contains(val, "CHANGE-ME") {
						fail(o, "%s looks like a real value; example secrets hold CHANGE-ME placeholders only", k)
					}
				}
			}
		case *prometheusRule:
			errs = append(errs, checkRules(o, v)...)
		case *kustomization:
			kustomizations++
			errs = append(errs, checkKustomization(o, v)...)
		}
	}
	if cronJobs != 1 {
		errs = append(errs, fmt.Errorf("found %d CronJobs, want 1", cronJobs))
	}
	if kustomizations != 1 {
		errs = append(errs, fmt.Errorf("found %d Kustomizations, want 1", kustomizations))
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

// checkEnvMap checks a ConfigMap's data or a Secret's stringData: every key
// is a variable the archiver reads, and every value is a YAML string (the
// API server rejects `1000` or `true` there).
func checkEnvMap(o object, field string, env map[string]bool) []error {
	var errs []error
	m := mappingValue(o.node, field)
	if m == nil {
		return []error{fmt.Errorf("%s: no %s", o, field)}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !env[k.Value] {
			errs = append(errs, fmt.Errorf("%s: %s key %s is read by nothing (typo?)", o, field, k.Value))
		}
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			errs = append(errs, fmt.Errorf("%s: %s.%s is %s, want a quoted string", o, field, k.Value, v.Tag))
		}
	}
	return errs
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var (
	promDurationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	metricNameRE   = regexp.MustCompile(`\barchiver_[a-zA-Z0-9_]+`)
)

// exportedMetrics lists the series names internal/metrics produces, so that
// an alert on a misspelt metric (which would never fire) fails here.
func exportedMetrics() map[string]bool {
	r := metrics.New("s3")
	r.AddPurged(1)
	r.ArchiveWritten(1, time.Second)
	r.DayFailed()
	r.SetDaysPending(1)
	r.Finish(time.Now(), true)
	mfs, err := r.Gatherer().Gather()
	if err != nil {
		panic(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
	return names
}

func checkRules(o object, pr *prometheusRule) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, args...)))
	}
	known := exportedMetrics()
	alerts := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			fail("group %q without name or rules", g.Name)
		}
		for _, r := range g.Rules {
			id := r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				fail("rule %q: exactly one of alert and record", id)
			}
			alerts[r.Alert] = true
			if r.Expr == "" {
				fail("rule %q without expr", id)
			}
			if err := balanced(r.Expr); err != nil {
				fail("rule %q: %v", id, err)
			}
			for _, name := range metricNameRE.FindAllString(r.Expr, -1) {
				if !known[name] {
					fail("rule %q uses %s, which internal/metrics does not export", id, name)
				}
			}
			if r.For != "" && !promDurationRE.MatchString(r.For) {
				fail("rule %q: for %q is not a Prometheus duration", id, r.For)
			}
			if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["summary"] == "") {
				fail("alert %q needs a severity label and a summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"ArchiverNotSucceeding", "ArchiverDaysFailed", "ArchiverRawPurgeHeld"} {
		if !alerts[want] {
			fail("no alert %s", want)
		}
	}
	return errs
}

func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inQuote := rune(0)
	for _, c := range expr {
		switch {
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			}
		case c == '"' || c == '\'':
			inQuote = c
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %q in %q", c, expr)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || inQuote != 0 {
		return fmt.Errorf("unclosed bracket or quote in %q", expr)
	}
	return nil
}

// checkKustomization makes sure every listed resource exists and every
// manifest beside it is listed, except examples (applying an example secret
// would overwrite the real one).
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
		if (ext != ".yaml" && ext != ".yml") || n == filepath.Base(o.file) || strings.Contains(n, ".example.") {
			continue
		}
		if !slices.Contains(k.Resources, n) {
			errs = append(errs, fmt.Errorf("%s: %s is not listed in resources", o, n))
		}
	}
	return errs
}

// ---------------------------------------------------------------------------
// Cron.

var cronFields = []struct {
	name     string
	min, max int
	names    []string // index + min is the value
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkSchedule checks a standard five-field cron expression.
func checkSchedule(s string) error {
	f := strings.Fields(s)
	if len(f) != len(cronFields) {
		return fmt.Errorf("%q has %d fields, want 5 (minute hour day-of-month month day-of-week)", s, len(f))
	}
	for i, field := range f {
		if err := checkCronField(field, i); err != nil {
			return fmt.Errorf("%q: %s: %w", s, cronFields[i].name, err)
		}
	}
	return nil
}

func checkCronField(field string, i int) error {
	spec := cronFields[i]
	value := func(s string) (int, error) {
		if j := slices.Index(spec.names, strings.ToLower(s)); j >= 0 {
			return j + spec.min, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < spec.min || n > spec.max {
			return 0, fmt.Errorf("%q is not in %d-%d", s, spec.min, spec.max)
		}
		return n, nil
	}
	for _, part := range strings.Split(field, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 {
				return fmt.Errorf("bad step %q", step)
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := value(lo)
		if err != nil {
			return err
		}
		if isRange {
			b, err := value(hi)
			if err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("range %q runs backwards", rng)
			}
		}
	}
	return nil
}

var envLineRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// checkCron checks a file for /etc/cron.d: five schedule fields, a user and
// a command that takes a lock and logs.
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
		if err := checkSchedule(strings.Join(f[:5], " ")); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
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

// unitKeys lists the keys each section may hold in these units. systemd only
// logs "Unknown key name" and starts the unit without the setting, which for
// a hardening option means silently running unprotected.
var unitKeys = map[string][]string{
	"Unit": {"Description", "Documentation", "Wants", "Requires", "After", "Before", "OnFailure",
		"ConditionPathExists", "StartLimitIntervalSec", "StartLimitBurst"},
	"Service": {"Type", "User", "Group", "EnvironmentFile", "Environment", "ExecStart", "ExecStartPre",
		"ExecStartPost", "WorkingDirectory", "TimeoutStartSec", "TimeoutStopSec", "Nice",
		"IOSchedulingClass", "IOSchedulingPriority", "NoNewPrivileges", "ProtectSystem",
		"ReadWritePaths", "ReadOnlyPaths", "ProtectHome", "PrivateTmp", "PrivateDevices",
		"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
		"ProtectClock", "ProtectHostname", "RestrictAddressFamilies", "RestrictNamespaces",
		"RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
		"SystemCallArchitectures", "SystemCallFilter", "CapabilityBoundingSet", "AmbientCapabilities",
		"UMask", "StateDirectory", "LogsDirectory", "MemoryMax", "SuccessExitStatus"},
	"Timer":   {"OnCalendar", "Persistent", "RandomizedDelaySec", "AccuracySec", "Unit", "FixedRandomDelay"},
	"Install": {"WantedBy"},
}

var (
	unitBools = []string{"Persistent", "FixedRandomDelay", "NoNewPrivileges", "PrivateTmp", "PrivateDevices",
		"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
		"ProtectClock", "ProtectHostname", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"LockPersonality", "MemoryDenyWriteExecute"}
	unitSpans  = []string{"TimeoutStartSec", "TimeoutStopSec", "RandomizedDelaySec", "AccuracySec", "StartLimitIntervalSec"}
	timeSpanRE = regexp.MustCompile(`^(infinity|([0-9]+(\.[0-9]+)?(usec|us|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)?)+)$`)
	boolValues = []string{"yes", "no", "true", "false", "on", "off", "1", "0"}
)

// unit maps section -> key -> values (keys may repeat).
type unit map[string]map[string][]string

func parseUnit(p string) (unit, []error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, []error{err}
	}
	defer f.Close()
	u := unit{}
	var errs []error
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		where := fmt.Sprintf("%s:%d", p, n)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
			if _, ok := unitKeys[section]; !ok || !strings.HasSuffix(line, "]") {
				errs = append(errs, fmt.Errorf("%s: unknown section %s", where, line))
			}
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			key, val, ok := strings.Cut(line, "=")
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			switch {
			case !ok || key == "":
				errs = append(errs, fmt.Errorf("%s: not key=value: %q", where, line))
			case section == "":
				errs = append(errs, fmt.Errorf("%s: %s outside a section", where, key))
			case !slices.Contains(unitKeys[section], key):
				errs = append(errs, fmt.Errorf("%s: unknown key %s in [%s]", where, key, section))
			case slices.Contains(unitBools, key) && !slices.Contains(boolValues, strings.ToLower(val)):
				errs = append(errs, fmt.Errorf("%s: %s=%s is not a boolean", where, key, val))
			case slices.Contains(unitSpans, key) && !timeSpanRE.MatchString(strings.ReplaceAll(val, " ", "")):
				errs = append(errs, fmt.Errorf("%s: %s=%s is not a time span", where, key, val))
			case val == "" && key != "CapabilityBoundingSet" && key != "AmbientCapabilities":
				errs = append(errs, fmt.Errorf("%s: %s is empty", where, key))
			}
			if u[section] != nil {
				u[section][key] = append(u[section][key], val)
			}
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return u, errs
}

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func checkUnits(paths []string) []error {
	var errs []error
	services := map[string]bool{}
	for _, p := range paths {
		if filepath.Ext(p) == ".service" {
			services[filepath.Base(p)] = true
		}
	}
	for _, p := range paths {
		u, es := parseUnit(p)
		errs = append(errs, es...)
		if u == nil {
			continue
		}
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
		}
		if u.get("Unit", "Description") == "" {
			fail("no Description")
		}
		switch filepath.Ext(p) {
		case ".service":
			if t := u.get("Service", "Type"); t != "oneshot" {
				fail("Type=%s, want oneshot: a batch run is done when its process exits", t)
			}
			if user := u.get("Service", "User"); user == "" || user == "root" || user == "0" {
				fail("User=%q, want a dedicated non-root user", user)
			}
			if u.get("Service", "EnvironmentFile") == "" {
				fail("no EnvironmentFile for DATABASE_URL and tokens")
			}
			exec := strings.Fields(u.get("Service", "ExecStart"))
			if len(exec) < 2 || !strings.HasPrefix(exec[0], "/") || path.Base(exec[0]) != "archiver" || exec[1] != "archive" {
				fail("ExecStart=%q, want /path/to/archiver archive", strings.Join(exec, " "))
			}
			for key, vals := range u["Service"] {
				for _, v := range vals {
					if strings.HasPrefix(key, "Exec") && strings.Contains(v, "migrate") {
						fail("%s runs migrations; they belong to deploys, not to every daily run", key)
					}
				}
			}
			for key, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes"} {
				if got := u.get("Service", key); got != want {
					fail("%s=%q, want %q", key, got, want)
				}
			}
			if len(u["Service"]["ReadWritePaths"]) == 0 {
				fail("ProtectSystem=strict without ReadWritePaths leaves no place for file:// archives or the metrics textfile")
			}
		case ".timer":
			target := u.get("Timer", "Unit")
			if target == "" {
				target = strings.TrimSuffix(filepath.Base(p), ".timer") + ".service"
			}
			if !services[target] {
				fail("triggers %s, which is not a service file beside it", target)
			}
			if u.get("Timer", "OnCalendar") == "" {
				fail("no OnCalendar")
			}
			if u.get("Timer", "Persistent") != "true" {
				fail("Persistent is not true: a run missed while the host was down would be skipped")
			}
			if u.get("Install", "WantedBy") != "timers.target" {
				fail("WantedBy is not timers.target: the timer would not start at boot")
			}
		}
	}
	return errs
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
