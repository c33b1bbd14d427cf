// Package validate holds the offline checks of shelflake's deployment files
// (deploy/): Kubernetes manifests rendered with kustomize and decoded strictly
// against the Kubernetes API types, the Prometheus alert rules and their unit
// tests (with promtool), the Grafana dashboard, the compose file and the
// Dockerfile, and the metric names, subcommands, flags and environment
// variables they use against what the code in this repository defines.
//
// It is a separate module so that the Kubernetes and kustomize libraries stay
// out of shelflake's own dependencies; it reads the repository's files and
// imports none of its packages. Run it with `make deploy-test`, which builds
// promtool first (deploy/tools) and passes it in SHELFLAKE_PROMTOOL.
package validate
