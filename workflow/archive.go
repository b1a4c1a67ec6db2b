package workflow

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/vessel-oci/vessel/registry"
)

// TrustDir is where export puts trust material (public keys, policies) in
// an archive, beside the OCI layout. It is never trusted automatically: an
// offline site reviews it and names the keys it accepts.
const TrustDir = "vessel-trust"

// ExportOptions configure Export.
type ExportOptions struct {
	Copy CopyOptions
	// Tag names the model in the archive's index; empty: the source's tag,
	// or "latest".
	Tag string
	// Trust files (name -> content) go into TrustDir.
	Trust map[string][]byte
}

// Export copies the model src names, with every signature and attestation,
// into an OCI image layout and writes it as a tar file (written beside,
// then renamed into place). Verification runs as for Copy.
func Export(ctx context.Context, src *registry.Repository, file string, opts ExportOptions) (*CopyResult, error) {
	tag := opts.Tag
	if tag == "" {
		tag = src.Ref.Tag
	}
	if tag == "" {
		tag = "latest"
	}
	file, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(file), ".vessel-export-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(tmp)
	layout := filepath.Join(tmp, "layout")
	dst, err := registry.Open(ctx, registry.Reference{Layout: layout, Tag: tag}, registry.Options{CreateLayout: true})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	res, err := Copy(ctx, src, dst, opts.Copy)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	part := filepath.Join(tmp, "archive.tar")
	if err := writeTar(part, layout, opts.Trust); err != nil {
		return nil, fmt.Errorf("export %s: %w", file, err)
	}
	if err := os.Rename(part, file); err != nil {
		return nil, fmt.Errorf("export %s: %w", file, err)
	}
	res.Destination = (registry.Reference{Layout: file, Archive: true, Tag: tag}).String()
	return res, nil
}

// Import copies a model from an OCI archive (as Export writes it) to dst,
// with its signatures and attestations, verified as for Copy. When the
// archive reference names no tag or digest, the archive's only tag is used.
func Import(ctx context.Context, archive registry.Reference, dst *registry.Repository, opts CopyOptions) (*CopyResult, error) {
	src, err := registry.Open(ctx, archive, registry.Options{})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if _, err := src.ChooseOnlyTag(ctx); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return Copy(ctx, src, dst, opts)
}

// writeTar writes the layout directory's files, then the trust files, to a
// tar at path: sorted names, no timestamps or owners, so the same content
// makes the same archive.
func writeTar(path, layout string, trust map[string][]byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	var names []string
	err = filepath.WalkDir(layout, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == layout {
			return err
		}
		if d.IsDir() && p == filepath.Join(layout, "ingest") {
			return filepath.SkipDir // oras-go's scratch space for uploads
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		names = append(names, p)
		return nil
	})
	if err == nil {
		sort.Strings(names)
		for _, p := range names {
			if err = addToTar(tw, layout, p); err != nil {
				break
			}
		}
	}
	if err == nil && len(trust) > 0 {
		keys := make([]string, 0, len(trust))
		for k := range trust {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		err = tw.WriteHeader(&tar.Header{Name: TrustDir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
		for _, k := range keys {
			if err != nil {
				break
			}
			data := trust[k]
			if err = tw.WriteHeader(&tar.Header{Name: TrustDir + "/" + filepath.Base(k), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err == nil {
				_, err = tw.Write(data)
			}
		}
	}
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func addToTar(tw *tar.Writer, root, p string) error {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	name := filepath.ToSlash(rel)
	if fi.IsDir() {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
}
