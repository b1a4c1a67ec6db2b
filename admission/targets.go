package admission

import (
	"fmt"
	"strings"
)

// A Target is one model reference a pod would mount or load.
type Target struct {
	// Where names it for a person: `volume "model"`, `container "modelcar"`.
	Where string
	// Ref is the reference as the pod spec writes it (for a KServe storage
	// URI, without the oci:// scheme).
	Ref string
	// Path is the JSONPatch path of the field that holds it.
	Path string
	// Scheme is what came before Ref in that field ("oci://" for a
	// storage URI), kept when the field is rewritten.
	Scheme string
}

// KServe's names: the modelcar sidecar and its init container carry the
// model as their image; the storage initializer gets the storage URI as
// its first argument.
const (
	kserveModelcar     = "modelcar"
	kserveModelcarInit = "modelcar-init"
	storageURIScheme   = "oci://"
)

// Targets finds the model references in a pod: every image volume
// (Kubernetes mounts an OCI artifact's layers as files, no runtime check
// of what they are), KServe modelcar containers, and init containers
// given an oci:// storage URI as their first argument (KServe's storage
// initializer, or vessel itself as one). Other containers' images are
// programs, not models: they are left to the image policy of the cluster.
func Targets(pod *Pod) []Target {
	var ts []Target
	for i, v := range pod.Spec.Volumes {
		if v.Image != nil {
			ts = append(ts, Target{
				Where: fmt.Sprintf("volume %q", v.Name),
				Ref:   v.Image.Reference,
				Path:  fmt.Sprintf("/spec/volumes/%d/image/reference", i),
			})
		}
	}
	containers := func(field string, cs []Container) {
		for i, c := range cs {
			if c.Name == kserveModelcar || c.Name == kserveModelcarInit {
				ts = append(ts, Target{
					Where: fmt.Sprintf("container %q", c.Name),
					Ref:   c.Image,
					Path:  fmt.Sprintf("/spec/%s/%d/image", field, i),
				})
				continue
			}
			if field == "initContainers" && len(c.Args) > 0 {
				if ref, ok := strings.CutPrefix(c.Args[0], storageURIScheme); ok {
					ts = append(ts, Target{
						Where:  fmt.Sprintf("init container %q storage URI", c.Name),
						Ref:    ref,
						Path:   fmt.Sprintf("/spec/initContainers/%d/args/0", i),
						Scheme: storageURIScheme,
					})
				}
			}
		}
	}
	containers("initContainers", pod.Spec.InitContainers)
	containers("containers", pod.Spec.Containers)
	return ts
}
