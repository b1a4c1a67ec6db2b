//go:build linux

package main

import (
	"context"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// resumePollInterval is how often an interrupted pull's progress is read
// from disk. At 1 GB/s that is 10 MB between looks: fine grain for 1 GiB.
const resumePollInterval = 10 * time.Millisecond

// resumePull measures a resumed download: it starts cmd (a pull with a
// local cache), kills it with SIGKILL -- no chance to clean up, as after a
// crash or a lost machine -- once about half of total bytes are on disk under
// dirs, then runs the same command again and times only that rerun.
// If the first pull finishes before half is seen (a small model on a fast
// disk), the rerun is still timed and the note says so.
func resumePull(ctx context.Context, cmd *exec.Cmd, total int64, dirs ...string) (sample, error) {
	rerun := newCmd(ctx, cmd.Stdout, cmd.Path, cmd.Args[1:]...)
	rerun.Env, rerun.Dir = cmd.Env, cmd.Dir

	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(resumePollInterval)
	defer tick.Stop()
	var note string
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				return sample{}, fmt.Errorf("first pull, before the kill: %w", err)
			}
			note = "not interrupted: finished before half was on disk"
			break wait
		case <-tick.C:
			n := bytesOnDisk(dirs...)
			if n < total/2 {
				continue
			}
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			note = fmt.Sprintf("killed at %.0f%%", 100*float64(n)/float64(total))
			break wait
		}
	}

	smp, err := measure(rerun)
	smp.note = note
	return smp, err
}

// bytesOnDisk is the largest amount of file data under any of dirs. Per
// file it counts min(size, allocated blocks), so a file truncated to its
// final size before it is written counts only what was written. The tree
// changes while it is walked (renames); whatever vanishes is skipped.
func bytesOnDisk(dirs ...string) int64 {
	var most int64
	for _, dir := range dirs {
		var n int64
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			size := info.Size()
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				size = min(size, st.Blocks*512)
			}
			n += size
			return nil
		})
		most = max(most, n)
	}
	return most
}
