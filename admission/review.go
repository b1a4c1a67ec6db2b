package admission

import "encoding/json"

// The AdmissionReview and Pod fields vessel reads and writes, as the API
// server sends and expects them (admission.k8s.io/v1, core/v1). Written
// here rather than imported from k8s.io/api: those packages (generated
// protobuf code and apimachinery) would add 8 MB to a binary that also
// runs on laptops and as an init container. The tests encode and decode
// with k8s.io/api's own types, and the e2e test talks to a real
// kube-apiserver, so the two cannot drift apart unnoticed.

type admissionReview struct {
	APIVersion string             `json:"apiVersion,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Request    *admissionRequest  `json:"request,omitempty"`
	Response   *admissionResponse `json:"response,omitempty"`
}

type admissionRequest struct {
	UID       string           `json:"uid"`
	Kind      groupVersionKind `json:"kind"`
	Namespace string           `json:"namespace,omitempty"`
	Operation string           `json:"operation"`
	Object    json.RawMessage  `json:"object,omitempty"`
}

type groupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type admissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Result    *status  `json:"status,omitempty"`
	Patch     []byte   `json:"patch,omitempty"` // JSON: base64, as the API expects
	PatchType string   `json:"patchType,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

type status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// Pod is the part of a core/v1 Pod that can name models.
type Pod struct {
	Metadata struct {
		Name         string `json:"name,omitempty"`
		GenerateName string `json:"generateName,omitempty"`
		Namespace    string `json:"namespace,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Volumes        []Volume    `json:"volumes,omitempty"`
		InitContainers []Container `json:"initContainers,omitempty"`
		Containers     []Container `json:"containers,omitempty"`
	} `json:"spec"`
}

// Volume is a pod volume; Image is set for an image volume.
type Volume struct {
	Name  string `json:"name"`
	Image *struct {
		Reference string `json:"reference,omitempty"`
	} `json:"image,omitempty"`
}

// Container is a pod's container or init container.
type Container struct {
	Name  string   `json:"name"`
	Image string   `json:"image,omitempty"`
	Args  []string `json:"args,omitempty"`
}
