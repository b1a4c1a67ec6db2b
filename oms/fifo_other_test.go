//go:build !unix

package oms_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
