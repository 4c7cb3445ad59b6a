package coordinator_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/taonet/taonet/ledger"
)

// chromiumPath finds headless Chromium (Debian's chromium, which make deps
// installs). Without it the browser test fails under CI and is skipped,
// saying why, elsewhere.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("no chromium on PATH: the dashboard's browser test needs it (make deps installs Debian's chromium)")
	}
	tb.Skip("no chromium on PATH: install Debian's chromium (make deps) to run the dashboard's browser test; under CI it fails")
	return ""
}

// pageView is what the dashboard drew, read from its DOM by readPage.
type pageView struct {
	State, Banner, Summary string
	Legend                 []string
	Plots                  map[string]plotView
	Directory, Rounds      [][]string
}

// plotView is one plot: its figure's data attributes, where it lies on
// the page (CSS pixels) and its lines.
type plotView struct {
	Series, Points int
	X, Y, W, H     float64
	Paths          []struct {
		Peer, D, Stroke string
		Points          int
	}
}

const readPage = `(() => {
  const cells = (sel) => [...document.querySelectorAll(sel + " tbody tr")].map((tr) => [...tr.cells].map((td) => td.innerText.trim()));
  const plots = {};
  for (const f of document.querySelectorAll("figure.plot")) {
    const r = f.getBoundingClientRect();
    plots[f.id] = {
      Series: +f.dataset.series, Points: +f.dataset.points,
      X: r.x + window.scrollX, Y: r.y + window.scrollY, W: r.width, H: r.height,
      Paths: [...f.querySelectorAll("path.series")].map((p) => ({
        Peer: p.dataset.peer, Points: +p.dataset.points, D: p.getAttribute("d"), Stroke: p.getAttribute("stroke"),
      })),
    };
  }
  return {
    State: document.body.dataset.state, Banner: document.getElementById("error").textContent,
    Summary: document.getElementById("summary").textContent.replace(/\s+/g, " "),
    Legend: [...document.querySelectorAll("#legend span")].map((s) => s.textContent),
    Plots: plots, Directory: cells("#directory"), Rounds: cells("#rounds"),
  };
})()`

// testDashboardBrowser loads the dashboard of n in headless Chromium and
// checks that it drew every peer's line in every plot, with as many
// points as the rounds say, in pixels of the line's color, and filled the
// directory and the rounds; that the page threw nothing and broke no
// Content-Security-Policy rule. It saves a screenshot under the test's
// temporary folder, and also to $TAONET_DASHBOARD_SCREENSHOT when set.
func testDashboardBrowser(t *testing.T, n *dashNet) {
	exe := chromiumPath(t)
	view, shot, console := mustLoadDashboard(t, exe, n.base+"/")
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if out := os.Getenv("TAONET_DASHBOARD_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range console {
		t.Errorf("browser console: %s", m)
	}
	if view.State != "ready" {
		t.Fatalf("page state %q, banner %q", view.State, view.Banner)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	losses, evaluated := n.plotted()
	settled := map[string]int{}
	for _, id := range n.ids {
		settled[id] = dashRounds
	}
	for _, c := range []struct {
		plot   string
		points map[string]int // the points of each line
	}{
		{"plot-loss", losses},
		{"plot-accuracy", losses},
		{"plot-weight", evaluated},
		{"plot-balance", settled},
		{"plot-supply", map[string]int{"supply": dashRounds}},
	} {
		t.Run(c.plot, func(t *testing.T) { checkPlot(t, view.Plots[c.plot], c.points, img) })
	}
	if len(view.Legend) != len(n.ids) {
		t.Errorf("legend %q, want the %d peers", view.Legend, len(n.ids))
	}
	var dir []string
	for _, row := range view.Directory {
		dir = append(dir, strings.Fields(row[0])[0]+" "+row[1])
	}
	if want := "alice joined,bob joined,carol joined,dave left,erin revoked"; strings.Join(dir, ",") != want {
		t.Errorf("directory table %q, want %q", dir, want)
	}
	var rounds, want []string
	for _, row := range view.Rounds {
		rounds = append(rounds, strings.Join([]string{row[0], row[1], row[4], row[5]}, " "))
	}
	for i := len(n.reports) - 1; i >= 0; i-- {
		rep := n.reports[i]
		scored := 0
		for _, res := range rep.Results {
			if res.Status == ledger.EvalScored {
				scored++
			}
		}
		want = append(want, fmt.Sprintf("%d settled %d of %d 1", rep.Round, scored, len(rep.Results)))
	}
	if !slices.Equal(rounds, want) {
		t.Errorf("rounds table (round, status, peers scored, emission) %q, want %q", rounds, want)
	}
	if !strings.Contains(view.Summary, "6 of 21000000 TAO") || !strings.Contains(view.Summary, "3 joined of 5") {
		t.Errorf("summary %q", view.Summary)
	}
}

// mustLoadDashboard opens url in a new headless Chromium and waits for the
// page's first render. It returns what the page drew, a PNG of the whole
// page, and the console's exceptions and errors.
func mustLoadDashboard(t *testing.T, exe, url string) (pageView, []byte, []string) {
	// Chromium's helpers can still write to the profile for a moment
	// after it stops, so it is removed here, with retries, rather than by
	// t.TempDir, which would fail the test.
	profile, err := os.MkdirTemp("", "taonet-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(profile), chromedp.DisableGPU, chromedp.WindowSize(1400, 1800))
	if os.Geteuid() == 0 {
		// Chromium will not start as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1400, 1800)); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	var mu sync.Mutex
	var console []string
	cctx, stopConsole := context.WithCancel(bctx)
	messages := chromedp.Console(cctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				console = append(console, m.String())
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.body.dataset.state !== "loading"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page did not render in 20s: %v", err)
	}
	view, err := chromedp.Run(bctx, chromedp.Evaluate[pageView](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	stopConsole()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return view, shot, console
}

// pathPoint is one "M" or "L" of an SVG path.
var pathPoint = regexp.MustCompile(`[ML](-?[0-9.]+),(-?[0-9.]+)`)

// checkPlot checks that p has one line per key of points, each with that
// many points in its path, moving right and inside the plot, and drawn:
// at least a few pixels of the line's color inside the plot's box.
func checkPlot(t *testing.T, p plotView, points map[string]int, img image.Image) {
	total := 0
	for _, k := range points {
		total += k
	}
	if p.Series != len(points) || p.Points != total || len(p.Paths) != len(points) {
		t.Fatalf("%d lines of %d points, %d paths; want %d lines of %d points", p.Series, p.Points, len(p.Paths), len(points), total)
	}
	for _, path := range p.Paths {
		want, ok := points[path.Peer]
		pts := pathPoint.FindAllStringSubmatch(path.D, -1)
		if !ok || path.Points != want || len(pts) != want {
			t.Errorf("line of %q: %d points (path: %d), want %d", path.Peer, path.Points, len(pts), want)
			continue
		}
		last, ys := -1.0, map[string]bool{}
		for _, pt := range pts {
			x, _ := strconv.ParseFloat(pt[1], 64)
			y, _ := strconv.ParseFloat(pt[2], 64)
			if x <= last || x < 0 || x > 560 || y < 0 || y > 250 {
				t.Errorf("line of %q: point %v,%v after x %v, outside the plot or not moving right", path.Peer, x, y, last)
			}
			last, ys[pt[2]] = x, true
		}
		if want >= 4 && len(ys) < 2 {
			t.Errorf("line of %q: flat over %d rounds that changed it", path.Peer, want)
		}
		if n := colored(img, p, path.Stroke); n < 20 {
			t.Errorf("line of %q: %d pixels of its color %s in the screenshot, want it drawn", path.Peer, n, path.Stroke)
		}
	}
}

// colored counts the pixels of img inside p's box within 64 of color
// (#rrggbb) on every channel: a line antialiased on white stays that close.
func colored(img image.Image, p plotView, color string) int {
	var want [3]int
	if _, err := fmt.Sscanf(color, "#%02x%02x%02x", &want[0], &want[1], &want[2]); err != nil {
		return 0
	}
	n := 0
	for y := int(p.Y); y < int(p.Y+p.H); y++ {
		for x := int(p.X); x < int(p.X+p.W); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
			if abs(got[0]-want[0]) <= 64 && abs(got[1]-want[1]) <= 64 && abs(got[2]-want[2]) <= 64 {
				n++
			}
		}
	}
	return n
}

func abs(v int) int { return max(v, -v) }
