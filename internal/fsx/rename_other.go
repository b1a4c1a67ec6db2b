//go:build !linux && !darwin && !windows

package fsx

import "errors"

func renameNoReplace(old, new string) error { return errors.ErrUnsupported }
