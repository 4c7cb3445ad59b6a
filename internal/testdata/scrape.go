package testdata

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is a scraped Prometheus text page, by metric family name.
type Metrics map[string]*dto.MetricFamily

// Scrape GETs url (a /metrics endpoint), checks the answer is 200 and
// parses it.
func Scrape(tb testing.TB, url string) Metrics {
	tb.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %s %v\n%s", url, resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("scrape %s: parse: %v\n%s", url, err, body)
	}
	return Metrics(fams)
}

// Sum adds the values of every series of name whose labels include want:
// a counter's, a gauge's or an untyped value, or a histogram's count. ok
// is false when no series matches.
func (m Metrics) Sum(name string, want map[string]string) (sum float64, ok bool) {
	fam, found := m[name]
	if !found {
		return 0, false
	}
	for _, s := range fam.GetMetric() {
		if !hasLabels(s, want) {
			continue
		}
		ok = true
		switch {
		case s.GetCounter() != nil:
			sum += s.GetCounter().GetValue()
		case s.GetGauge() != nil:
			sum += s.GetGauge().GetValue()
		case s.GetHistogram() != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		case s.GetUntyped() != nil:
			sum += s.GetUntyped().GetValue()
		}
	}
	return sum, ok
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range s.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
