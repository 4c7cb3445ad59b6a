package ledger

// Emission returns what the next round mints when minted rao have been
// issued so far under a supply cap of capRao and a first-era emission of e0,
// exactly as docs/design.md "TAO" writes it:
//
//	h = floor(log2(cap / (cap - minted)))
//	emission = min(e0 >> h, cap - minted)
//
// and 0 once cap - minted is 0 or the shift reaches 0. Only integer
// arithmetic is used: see Era for how h is found. A minted supply above the
// cap (a corrupt ledger) also yields 0.
func Emission(capRao, e0, minted uint64) uint64 {
	if minted >= capRao {
		return 0
	}
	h := Era(capRao, minted)
	if h >= 64 {
		return 0
	}
	return min(e0>>h, capRao-minted)
}

// Era returns h = floor(log2(cap / (cap - minted))), the number of halvings
// so far, for minted < cap. With r = cap - minted > 0, 2^h <= cap/r holds
// exactly when r*2^h <= cap, which for integers is r <= cap >> h; so h is the
// largest shift with r <= cap >> h. It returns 64 when minted >= cap.
func Era(capRao, minted uint64) uint {
	if minted >= capRao {
		return 64
	}
	r := capRao - minted
	var h uint
	for h < 63 && capRao>>(h+1) >= r {
		h++
	}
	return h
}

// NextHalvingAt returns the minted supply at which the era after the
// current one begins: the least m with Era(cap, m) > Era(cap, minted). It
// is cap - (cap >> (h+1)), which is half the cap in the first era, then
// 75%, 87.5% and so on. Once the cap is reached it returns the cap.
func NextHalvingAt(capRao, minted uint64) uint64 {
	h := Era(capRao, minted)
	if h >= 63 {
		return capRao
	}
	return capRao - capRao>>(h+1)
}
