// Command image builds vessel's container image without Docker and pushes
// it (make image): static binaries for each platform, assembled by
// internal/image, written to a registry or an OCI layout. It prints the
// image by digest (REPO@sha256:..., or the digest for a layout), for
// `vessel sign`.
//
//	go run ./hack/image -push REGISTRY/REPO:TAG [-platforms linux/amd64,linux/arm64]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vessel-oci/vessel/internal/image"
)

func main() {
	push := flag.String("push", "", "push the image to `REF` (registry/repo:tag)")
	layoutDir := flag.String("layout", "", "write the image to the OCI layout `DIR` instead")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated `OS/ARCH` list")
	version := flag.String("version", "dev", "vessel's version, stamped into the binary and the labels")
	commit := flag.String("commit", "", "the source commit")
	created := flag.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "every timestamp in the image, in Unix `SECONDS` (default: SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	if (*push == "") == (*layoutDir == "") {
		fmt.Fprintln(os.Stderr, "image: give one of -push REF, -layout DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), *push, *layoutDir, *platforms, *version, *commit, *created); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, push, layoutDir, platforms, version, commit, created string) error {
	var when time.Time
	if created != "" {
		secs, err := strconv.ParseInt(created, 10, 64)
		if err != nil {
			return fmt.Errorf("-created %q: want Unix seconds", created)
		}
		when = time.Unix(secs, 0)
	}
	tmp, err := os.MkdirTemp("", "vessel-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var bins []image.Binary
	for _, p := range strings.Split(platforms, ",") {
		goos, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("-platforms %q: want OS/ARCH", p)
		}
		out := filepath.Join(tmp, goos+"-"+arch, "vessel")
		// Static, reproducible: no cgo, no paths, no build ID.
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "image",
			"-ldflags", fmt.Sprintf("-s -w -buildid= -X main.version=%s -X main.commit=%s", version, commit),
			"-o", out, "./cmd/vessel")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+arch)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s/%s: %w", goos, arch, err)
		}
		bins = append(bins, image.Binary{OS: goos, Arch: arch, Path: out})
	}
	labels := map[string]string{
		"org.opencontainers.image.title":    "vessel",
		"org.opencontainers.image.source":   "https://github.com/vessel-oci/vessel",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": commit,
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	idx, err := image.Assemble(bins, image.Options{Created: when, Labels: labels})
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	if layoutDir != "" {
		p, err := layout.Write(layoutDir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version})); err != nil {
			return err
		}
		fmt.Println(d)
		return nil
	}
	ref, err := name.ParseReference(push, insecureIfLoopback(push)...)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return err
	}
	fmt.Println(ref.Context().Digest(d.String()).String())
	return nil
}

// insecureIfLoopback lets a registry on this machine speak plain HTTP, as
// vessel does.
func insecureIfLoopback(ref string) []name.Option {
	for _, h := range []string{"localhost:", "127.0.0.1:", "[::1]:"} {
		if strings.HasPrefix(ref, h) {
			return []name.Option{name.Insecure}
		}
	}
	return nil
}
