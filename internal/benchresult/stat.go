package benchresult

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
)

// Stat is the min, median and max of one quantity over the repetitions.
type Stat struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// StatOf is the min, median (the mean of the middle two for an even
// count) and max of v, which must not be empty; v is not reordered.
func StatOf(v []float64) Stat {
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Min: s[0], Median: med, Max: s[len(s)-1]}
}

// WriteJSON writes doc to path as indented JSON (HTML characters kept as
// they are), creating path's folder.
func WriteJSON(path string, doc any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
