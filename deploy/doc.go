// Package deploy holds the files that run archiver in production: the
// container image, Kubernetes manifests, systemd units and a cron line (see
// README.md). It has no code of its own; its test parses and checks those
// files, so that a typo fails `go test` instead of the 02:00 run.
package deploy
