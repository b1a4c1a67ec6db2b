package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/store"
)

// Resolved is a model manifest that has been resolved to a digest, fetched
// within its cap, digest-checked and parsed into a safe plan. Nothing of
// the model's files has been fetched yet.
type Resolved struct {
	// Ref is the reference pinned to Desc's digest.
	Ref  registry.Reference
	Desc ocispec.Descriptor
	// Plan is nil for what is not a model (resolveSubject's images and
	// indexes).
	Plan   *artifact.Plan
	Config *modelspec.Model
}

// PullOptions configure Pull. The zero value trusts no one, so it refuses
// (ErrNoTrust): set Policy, or InsecureSkipVerify. Otherwise it pulls
// DefaultConcurrency layers at once with artifact's default limits and
// refuses a non-empty destination.
type PullOptions struct {
	// Policy decides which signatures (and attestations) the model needs.
	// It is checked after the manifest is resolved and before any layer is
	// fetched, so a refused model costs one manifest and a few small
	// fetches; every trusted OpenSSF model signature must then agree with
	// every file, including those inside tar layers.
	Policy *attest.Policy
	// InsecureSkipVerify pulls without checking signatures (digests and
	// sizes are still checked against the manifest).
	InsecureSkipVerify bool
	// Concurrency <= 0 means DefaultConcurrency.
	Concurrency int
	// Force replaces a non-empty destination (atomically, where the OS can).
	Force  bool
	Limits artifact.Limits
	// SignaturePath, if set, receives the model's OpenSSF model signature
	// (OMS bundle), so the files verify without a registry. Inside the
	// destination it is written with the files, atomically; it needs a
	// Policy under which a trusted OMS signature was found.
	SignaturePath string
	// Include, if not empty, makes the pull partial: only files matching
	// one of these globs are written (see artifact.Plan.Select for the
	// rule: a glob without a slash matches the base name, with one the
	// whole path; raw layers that match nothing are not fetched, tar
	// layers are fetched whole and only their matching files written).
	// Verify still checks the whole manifest first, and every file written
	// is checked against it. Matching nothing is artifact.ErrNoMatch. It
	// cannot be combined with SignaturePath: a whole-model signature does
	// not verify a partial directory.
	Include []string
	// Store is the content store layers are fetched into and files placed
	// from (hard-linked where it shares dest's filesystem). nil uses a
	// private store beside dest, removed once the pull succeeds: an
	// interrupted pull leaves it for the next attempt to resume from.
	Store *store.Store
	// Ranges is how many range requests fetch one large layer at once;
	// <= 1 fetches each layer in one stream.
	Ranges int
	// PortableNames refuses two files whose names differ only in case or
	// Unicode normalisation even where the destination's filesystem keeps
	// them apart (a model pulled on Linux for a Mac). Where it does not,
	// such a model is always refused: one signed file would replace the
	// other.
	PortableNames bool
	Progress      ProgressFunc
}

// PullResult is what a pull wrote.
type PullResult struct {
	Reference   string        `json:"reference"`
	Digest      digest.Digest `json:"digest"`
	Kind        artifact.Kind `json:"kind"`
	Destination string        `json:"destination"`
	// Files are what was written: one per layer, except that a partial
	// pull (Include) lists the files it took from tar layers one by one,
	// with their sha256 and no media type.
	Files []File `json:"files"`
	// Verification is what the trust check proved (nil without one).
	Verification *Verification `json:"verification,omitempty"`
	// Signature is where the OMS bundle was written, if asked.
	Signature string `json:"signature,omitempty"`
	// RangedLayers are the tar layers (by path) of which a partial pull
	// fetched only the selected files, by range.
	RangedLayers []string `json:"rangedLayers,omitempty"`
}

// Resolve turns repo's reference into a checked plan: tag looked up once,
// manifest capped and digest-checked, every path and size validated, the
// ModelPack config (if any) fetched and checked the same way.
func Resolve(ctx context.Context, repo Source, limits artifact.Limits) (*Resolved, error) {
	return resolve(ctx, repo, limits, false)
}

// resolveSubject resolves what a signature can be about: a model, or any
// other manifest or index (a container image, vessel's own), which comes
// back with no Plan: cosign's signatures apply to it, a model signature
// does not.
func resolveSubject(ctx context.Context, repo Source) (*Resolved, error) {
	return resolve(ctx, repo, artifact.Limits{}, true)
}

// resolve is Resolve; anyManifest takes what is not a model too (see
// resolveSubject).
func resolve(ctx context.Context, repo Source, limits artifact.Limits, anyManifest bool) (*Resolved, error) {
	desc, err := repo.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	pinned := repo.Reference().WithDigest(desc.Digest)
	switch {
	case !anyManifest && desc.MediaType == ocispec.MediaTypeImageIndex:
		return nil, fmt.Errorf("%s: %w: it is an index; name one of its manifests", repo.Reference(), artifact.ErrNotModel)
	case anyManifest && !registry.IsManifest(desc.MediaType):
		return nil, fmt.Errorf("%s: %w: %q is not a manifest or index", pinned, artifact.ErrNotModel, desc.MediaType)
	}
	data, err := fetchManifest(ctx, repo, desc)
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", pinned, err)
	}
	if desc.MediaType == ocispec.MediaTypeImageIndex {
		return &Resolved{Ref: pinned, Desc: desc}, nil
	}
	plan, err := artifact.ParseManifest(data, limits)
	if anyManifest && errors.Is(err, artifact.ErrNotModel) {
		return &Resolved{Ref: pinned, Desc: desc}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pinned, err)
	}
	r := &Resolved{Ref: pinned, Desc: desc, Plan: plan}
	cfg := plan.Manifest.Config
	if cfg.MediaType == modelspec.MediaTypeModelConfig || plan.Kind == artifact.KindModelPackLegacy {
		data, err := fetchManifest(ctx, repo, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: config: %w", pinned, err)
		}
		if r.Config, err = plan.ApplyConfig(data); err != nil {
			return nil, fmt.Errorf("%s: %w", pinned, err)
		}
	}
	return r, nil
}

// Pull fetches the model repo names into dest, verified and atomically:
// layers stream into a staging directory beside dest, each checked against
// its digest and size as it arrives, and only when all of them are complete
// and synced is the staging directory renamed into place. On any failure
// dest is as it was and the staging directory is gone.
func Pull(ctx context.Context, repo PullSource, dest string, opts PullOptions) (_ *PullResult, err error) {
	if len(opts.Include) > 0 && opts.SignaturePath != "" {
		return nil, fmt.Errorf("pull %s: a partial pull (include %q) cannot carry the whole model's signature to %s", repo.Reference(), opts.Include, opts.SignaturePath)
	}
	if err := artifact.CheckPatterns(opts.Include); err != nil {
		return nil, fmt.Errorf("pull %s: %w", repo.Reference(), err)
	}
	if err := checkTrust(opts.Policy, opts.InsecureSkipVerify); err != nil {
		return nil, fmt.Errorf("pull %s: %w", repo.Reference(), err)
	}
	m, err := Resolve(ctx, repo, opts.Limits)
	if err != nil {
		return nil, fmt.Errorf("pull %w", err)
	}
	// What to download: the whole plan, or the selected part of it. Verify
	// and the OMS comparison of raw layers see the whole manifest (m.Plan).
	plan := m.Plan
	if len(opts.Include) > 0 {
		if plan, err = m.Plan.Select(opts.Include); err != nil {
			return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
		}
	}
	var v *Verification
	if opts.Policy != nil {
		if v, err = VerifyResolved(ctx, repo, m, opts.Policy); err != nil {
			return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
		}
	}
	dest, err = filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	sig, err := signatureFile(dest, opts.SignaturePath, v, m)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
	}
	v.dropBundles() // sig has what is written; 100,000 files' bundle is 16 MB
	inside := landsInside(dest)
	if err := checkDestination(dest, opts.Force, inside); err != nil {
		return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
	}
	parent := filepath.Dir(dest)
	if inside {
		parent = dest
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
	}
	blobs := opts.Store
	if blobs == nil {
		private := privateStore(dest, inside)
		if blobs, err = store.OpenPrivate(private); err != nil {
			return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
		}
		// Kept only to resume an interrupted transfer: after success its
		// blobs are linked into dest, after a verification failure nothing
		// in it is worth resuming. Inside dest, a failure leaves dest
		// empty, as it was.
		defer func() {
			if err == nil || inside || errors.Is(err, errdef.ErrVerification) || !blobs.Resumable() {
				os.RemoveAll(private)
			}
		}()
	} else {
		// A shared store keeps what an interrupted pull fetched, for the
		// next one; not what a refused model's other layers left half done.
		defer func() {
			if errors.Is(err, errdef.ErrVerification) {
				for _, e := range m.Plan.Entries {
					blobs.Abandon(e.Layer.Digest)
				}
			}
		}()
	}
	staging, release, err := newStaging(parent, dest)
	if err != nil {
		return nil, fmt.Errorf("pull %s: staging: %w", m.Ref, err)
	}
	defer release()
	defer os.RemoveAll(staging) // after a successful commit it holds only what was replaced, or nothing
	if plan, err = foldFor(plan, staging, opts.PortableNames); err != nil {
		return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
	}

	// A partial pull of a model whose files are signed one by one may
	// fetch just the selected files of its tar layers, by range.
	var index *tarIndex
	if plan.Partial() && v != nil && len(v.omsAll) > 0 {
		index = findTarIndex(ctx, repo, m)
	}
	tarFiles, ranged, err := download(ctx, repo, plan, staging, blobs, index, opts)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
	}
	if v != nil {
		for _, sig := range v.omsAll {
			check := sig.checkUnpacked
			if plan.Partial() {
				check = sig.checkWritten
			}
			if err := check(tarFiles); err != nil {
				return nil, fmt.Errorf("pull %s: %s: %w", m.Ref, sig.Digest, err)
			}
			if err := sig.checkSelected(tarFiles, plan); err != nil {
				return nil, fmt.Errorf("pull %s: %s: %w", m.Ref, sig.Digest, err)
			}
		}
	}
	files := pulledFiles(plan, staging, tarFiles)
	if len(files) == 0 {
		return nil, fmt.Errorf("pull %s: include %q: %w", m.Ref, opts.Include, artifact.ErrNoMatch)
	}
	if sig != nil && sig.inside != "" {
		p := filepath.Join(staging, sig.inside)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = fsx.CreateNew(p, sig.data, 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("pull %s: signature: %w", m.Ref, err)
		}
	}
	commitTo := commit
	if inside {
		commitTo = commitInside
	}
	if err := commitTo(staging, dest, opts.Force); err != nil {
		return nil, fmt.Errorf("pull %s: %w", m.Ref, err)
	}
	res := &PullResult{Reference: m.Ref.String(), Digest: m.Desc.Digest, Kind: m.Plan.Kind, Destination: dest, Files: files, Verification: v, RangedLayers: ranged}
	if sig != nil {
		if sig.inside == "" {
			err := os.MkdirAll(filepath.Dir(sig.path), 0o755)
			if err == nil {
				err = fsx.WriteFile(sig.path, sig.data, 0o644, fsx.Durable)
			}
			if err != nil {
				return nil, fmt.Errorf("pull %s: signature (the files are in place): %w", m.Ref, err)
			}
		}
		res.Signature = sig.path
	}
	return res, nil
}

// foldFor returns plan for the filesystem staging (and so dest) is on:
// names it takes for one (case, Unicode normalisation) are refused before
// anything is fetched, as duplicates are.
func foldFor(plan *artifact.Plan, staging string, portable bool) (*artifact.Plan, error) {
	var f artifact.Folding
	var err error
	if f.Case, f.Unicode, err = fsx.NameFolding(staging); err != nil {
		return nil, err
	}
	if portable {
		f = artifact.Portable
	}
	return plan.WithFolding(f)
}

// pulledFiles lists what a pull wrote into staging: the files of its raw
// layers and, one by one, the files it took from tar layers (sized from
// staging, where they are complete).
func pulledFiles(plan *artifact.Plan, staging string, tarFiles map[string]digest.Digest) []File {
	var out []File
	for _, e := range plan.Entries {
		if e.Format == artifact.FormatRaw {
			out = append(out, File{Path: e.Path, Digest: e.Layer.Digest, Size: e.Layer.Size, MediaType: e.Layer.MediaType})
		}
	}
	names := slices.Sorted(maps.Keys(tarFiles))
	for _, name := range names {
		f := File{Path: name, Digest: tarFiles[name], Size: -1}
		if fi, err := os.Stat(filepath.Join(staging, filepath.FromSlash(name))); err == nil {
			f.Size = fi.Size()
		}
		out = append(out, f)
	}
	return out
}

// checkWritten is checkUnpacked for a partial pull: every file written
// from a tar layer must be signed, with the digest it was signed with.
// Not compared, because the pull did not write them: files of tar layers
// that the selection left out (they were read but not hashed), so a signed
// file missing from a tar layer goes unnoticed. Raw layers are unaffected:
// checkOMS compared all of them with the manifest before the download.
func (s *OMSSignature) checkWritten(got map[string]digest.Digest) error {
	if s == nil || s.pending == nil {
		return nil
	}
	var diff []string
	for name, d := range got {
		switch w, ok := s.pending[name]; {
		case !ok:
			diff = append(diff, name+" is not signed")
		case w != d.Encoded():
			diff = append(diff, fmt.Sprintf("%s is %s, signed as sha256:%s", name, d, w))
		}
	}
	return mismatch(diff)
}

// PrivateStore is the content store a pull into dest without a shared
// one keeps (see privateStore).
func PrivateStore(dest string) string {
	return privateStore(dest, landsInside(dest))
}

// download fetches every layer of plan into the content store, several at
// a time, and places its files into staging: raw layers by link or copy,
// tar layers unpacked. A tar layer a partial pull needs only some files
// of, and that index locates, has just those fetched, by range. It
// returns the sha256 of each file written from a tar layer, and the paths
// of the layers read by range.
func download(ctx context.Context, repo PullSource, plan *artifact.Plan, staging string, blobs *store.Store, index *tarIndex, opts PullOptions) (map[string]digest.Digest, []string, error) {
	var total int64
	for _, e := range plan.Entries {
		total += e.Layer.Size
	}
	opts.Progress.emit(Event{Kind: EventPlan, Size: total})
	u, err := artifact.NewUnpacker(staging, plan)
	if err != nil {
		return nil, nil, err
	}
	defer u.Close()
	var mu sync.Mutex
	var ranged []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency(opts.Concurrency))
	meter := &store.Meter{} // the layers' fetches together: a busy machine is not a thin link
	for _, e := range plan.Entries {
		g.Go(func() error {
			p := opts.Progress
			p.emit(Event{Kind: EventStart, Phase: PhaseDownload, Path: e.Path, Digest: e.Layer.Digest, Size: e.Layer.Size})
			if index != nil && e.Format == artifact.FormatTar && !plan.Selects(e.Path) {
				n, done, err := unpackRanges(gctx, repo, plan, u, e, index)
				if err != nil {
					return err
				}
				if done {
					if n > 0 {
						mu.Lock()
						ranged = append(ranged, e.Path)
						mu.Unlock()
					}
					p.emit(Event{Kind: EventDone, Phase: PhaseDownload, Path: e.Path, Digest: e.Layer.Digest, Size: e.Layer.Size})
					return nil
				}
			}
			if e.Format == artifact.FormatTar && e.Layer.Size <= directTarMax {
				if err := unpackDirect(gctx, repo, u, e, p.bytes(PhaseDownload, e.Path, e.Layer.Digest)); err != nil {
					return err
				}
				p.emit(Event{Kind: EventDone, Phase: PhaseDownload, Path: e.Path, Digest: e.Layer.Digest, Size: e.Layer.Size})
				return nil
			}
			blob, err := blobs.Fetch(gctx, e.Layer, repo, store.FetchOptions{Parallel: opts.Ranges, Meter: meter, Progress: p.bytes(PhaseDownload, e.Path, e.Layer.Digest)})
			if err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
			err = place(gctx, u, e, blob)
			blob.Close()
			if err != nil {
				return err
			}
			p.emit(Event{Kind: EventDone, Phase: PhaseDownload, Path: e.Path, Digest: e.Layer.Digest, Size: e.Layer.Size})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	if err := u.Sync(); err != nil {
		return nil, nil, err
	}
	slices.Sort(ranged)
	return u.TarFiles(), ranged, fsx.SyncDirs(staging)
}

// directTarMax: an uncompressed tar layer up to this size (a group of a
// dataset's small files) is unpacked as it arrives, not kept in the
// content store first: writing each byte twice costs more than fetching a
// small layer again after a failure.
const directTarMax = 16 << 20

// unpackDirect streams a small tar layer from the registry through the
// unpacker's checks (digest and size as it streams, then every entry).
func unpackDirect(ctx context.Context, repo PullSource, u *artifact.Unpacker, e artifact.Entry, progress func(int64)) error {
	rc, err := repo.FetchBlob(ctx, e.Layer)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	defer rc.Close()
	return u.Write(ctx, e, rc, progress)
}

// place writes an entry's file or files from its stored blob. A tar layer
// is read through the unpacker's checks again: they bound what it unpacks
// to, and hash its files.
func place(ctx context.Context, u *artifact.Unpacker, e artifact.Entry, blob *os.File) error {
	if e.Format == artifact.FormatRaw {
		return u.Place(e, blob)
	}
	return u.Write(ctx, e, blob, nil)
}

// checkDestination refuses a destination that is not a directory, or that
// holds anything when force is off (inside it, a pull's own leftovers do
// not count).
func checkDestination(dest string, force, inside bool) error {
	fi, err := os.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("destination %s exists and is not a directory", dest)
	}
	if force {
		return nil
	}
	switch name, err := firstForeign(dest, inside); {
	case err != nil:
		return err
	case name != "":
		return fmt.Errorf("%w: %s (use --force to replace it)", ErrDestinationExists, dest)
	}
	return nil
}

// firstForeign names an entry of dest, or "" when it has none; inside a
// destination a pull stages in, the pull's own entries are passed over.
func firstForeign(dest string, inside bool) (string, error) {
	d, err := os.Open(dest)
	if err != nil {
		return "", err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(64)
		for _, n := range names {
			if !inside || !ownEntry(dest, n) {
				return n, nil
			}
		}
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", err
		}
	}
}

// commitInside moves the finished staging directory's entries into dest,
// the directory it was made in. Without force nothing is replaced: a
// destination that was filled meanwhile is refused. With force, what was
// there goes first. If a move fails, those already made are moved back.
func commitInside(staging, dest string, force bool) error {
	if err := os.Chmod(staging, 0o755); err != nil {
		return err
	}
	there, err := os.ReadDir(dest)
	if err != nil {
		return err
	}
	for _, e := range there {
		if ownEntry(dest, e.Name()) {
			continue
		}
		if !force {
			return fmt.Errorf("%w: %s was filled while this pull ran (use --force to replace it)", ErrDestinationExists, dest)
		}
		if err := os.RemoveAll(filepath.Join(dest, e.Name())); err != nil {
			return fmt.Errorf("replace %s: %w", dest, err)
		}
	}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if err := fsx.RenameNoReplace(filepath.Join(staging, e.Name()), filepath.Join(dest, e.Name())); err != nil {
			for _, back := range entries[:i] {
				_ = os.Rename(filepath.Join(dest, back.Name()), filepath.Join(staging, back.Name()))
			}
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: %s appeared in %s while this pull ran", ErrDestinationExists, e.Name(), dest)
			}
			return fmt.Errorf("move into place: %w", err)
		}
	}
	return fsx.SyncDir(dest)
}

// commit moves the finished staging directory to dest. Without force it
// never replaces anything: an absent dest is taken with a no-replace
// rename, an empty one is removed first (only while still empty), so of
// two pulls racing to one destination exactly one wins. With force an
// existing dest is swapped with staging (fsx.Exchange: one step where the
// filesystem can), so there is no moment with a partial directory; the old
// contents are left in staging for the caller to remove.
func commit(staging, dest string, force bool) error {
	if err := os.Chmod(staging, 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(dest)
	switch {
	case err == nil && force:
		err = fsx.Exchange(staging, dest)
	case err == nil && (!fi.IsDir() || os.Remove(dest) != nil): // rmdir: only an empty directory goes
		return fmt.Errorf("%w: %s was filled while this pull ran (use --force to replace it)", ErrDestinationExists, dest)
	case err == nil || errors.Is(err, fs.ErrNotExist):
		err = fsx.RenameNoReplace(staging, dest)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s appeared while this pull ran (use --force to replace it)", ErrDestinationExists, dest)
		}
	}
	if err != nil {
		return fmt.Errorf("move into place: %w", err)
	}
	return fsx.SyncDir(filepath.Dir(dest))
}

// sigFile is where an OMS bundle goes: inside is its path relative to the
// destination when it lies within it, else "".
type sigFile struct {
	path, inside string
	data         []byte
}

// signatureFile checks that a signature was asked for and can be written:
// a trusted OMS signature exists, and its path does not collide with a
// model file.
func signatureFile(dest, path string, v *Verification, m *Resolved) (*sigFile, error) {
	if path == "" {
		return nil, nil
	}
	if v == nil || v.OMS == nil {
		return nil, fmt.Errorf("%w: no OpenSSF model signature from a trusted signer to write to %s", errdef.ErrUntrusted, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s := &sigFile{path: abs, data: v.OMS.bundle}
	if rel, err := filepath.Rel(dest, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		s.inside = rel
		for _, e := range m.Plan.Entries {
			if e.Path == filepath.ToSlash(rel) || strings.HasPrefix(filepath.ToSlash(rel), e.Path+"/") {
				return nil, fmt.Errorf("signature path %s is a file of the model", path)
			}
		}
	}
	return s, nil
}
