package distill

// SetLittleEndian makes the codecs take the single-copy path (true) or the
// portable byte loop (false), so that tests cover both on any host. It
// returns a function that restores the detected setting.
func SetLittleEndian(le bool) (restore func()) {
	old := littleEndian
	littleEndian = le
	return func() { littleEndian = old }
}

// LittleEndian is the byte order the codecs detected for this host.
func LittleEndian() bool { return littleEndian }
