package artifact

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Folding says which different names a filesystem takes for the same one.
// Two signed files whose names fold together cannot both be written there:
// one would replace the other, or two directories would merge. The zero
// value compares names byte for byte (Linux's usual filesystems).
type Folding struct {
	// Case: "Model.bin" is "model.bin" (macOS and Windows by default,
	// ext4 and tmpfs directories with casefold).
	Case bool
	// Unicode: "é" as one code point is "e" plus a combining accent
	// (macOS's APFS and HFS+, casefolded ext4).
	Unicode bool
}

// Portable folds both: names that stay distinct under it are distinct on
// every filesystem vessel runs on.
var Portable = Folding{Case: true, Unicode: true}

func (f Folding) String() string {
	switch {
	case f.Case && f.Unicode:
		return "ignores case and Unicode normalisation"
	case f.Case:
		return "ignores case"
	case f.Unicode:
		return "ignores Unicode normalisation"
	}
	return "compares names byte for byte"
}

// key is the form of name under which two names that fold together are
// equal. Case folding is Unicode's full folding (cases.Fold), the closest
// portable match to what APFS, NTFS and ext4's casefold do.
func (f Folding) key(name string) string {
	if f.Case {
		// A Caser keeps state: one per call is safe for concurrent use.
		name = cases.Fold().String(name)
	}
	if f.Unicode {
		name = norm.NFC.String(name)
	}
	return name
}
