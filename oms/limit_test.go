package oms_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vessel-oci/vessel/oms"
)

func TestBundleLimitGrowsWithTheModelUpToTheCeiling(t *testing.T) {
	small := oms.BundleLimit(3, 30)
	large := oms.BundleLimit(100_000, 100_000*60)
	if small >= large || large > oms.MaxBundleSize {
		t.Errorf("limits: 3 files %d, 100,000 files %d, ceiling %d", small, large, oms.MaxBundleSize)
	}
	// What vessel writes for 100,000 files of 60-byte names is about
	// 100,000 * (100 + 60) * 4/3 bytes: well inside their limit.
	if large < 100_000*(100+60)*4/3*2 {
		t.Errorf("100,000 files: limit %d leaves no room", large)
	}
	for _, huge := range []int64{oms.BundleLimit(10_000_000, 0), oms.BundleLimit(1, 1<<62)} {
		if huge != oms.MaxBundleSize {
			t.Errorf("a huge model's limit is %d, want the ceiling %d", huge, oms.MaxBundleSize)
		}
	}
}

func TestCheckBundleSizeSaysWhichLimit(t *testing.T) {
	limit := oms.BundleLimit(2, 20)
	if err := oms.CheckBundleSize(make([]byte, limit), 2, 20); err != nil {
		t.Errorf("a bundle at the limit: %v", err)
	}
	err := oms.CheckBundleSize(make([]byte, limit+1), 2, 20)
	if !errors.Is(err, oms.ErrUnsupported) || !bytes.Contains([]byte(err.Error()), []byte("oms.BundleLimit")) {
		t.Errorf("a bundle over the limit: %v", err)
	}
	err = oms.CheckBundleSize(make([]byte, oms.MaxBundleSize+1), 10_000_000, 0)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("oms.MaxBundleSize")) {
		t.Errorf("a bundle over the ceiling: %v", err)
	}
}
