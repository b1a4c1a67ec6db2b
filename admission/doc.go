// Package admission is vessel's Kubernetes admission webhook: it finds the
// models a pod would mount (image volumes, KServe modelcars and oci://
// storage URIs), verifies each against the trust policy, and denies the
// pod with the reference and the reason, or (mutating) pins each tag to
// the digest it verified so the kubelet mounts exactly that.
package admission
