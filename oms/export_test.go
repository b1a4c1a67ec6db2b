package oms

// PAE and PAECompat let external tests make signatures by hand.
var (
	PAE       = pae
	PAECompat = paeCompat
)
