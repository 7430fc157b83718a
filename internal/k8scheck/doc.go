// Package k8scheck checks deploy/kubernetes/ without a cluster: every
// manifest is decoded strictly into the k8s.io/api types (an unknown or
// misplaced field fails, as the API server's strict field validation
// would), and the manifests are checked against each other and against the
// binaries (selectors, ports, probes, resources, variables). A module of
// its own, so that the Kubernetes types stay out of the service's go.mod.
package k8scheck
