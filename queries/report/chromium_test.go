package report

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/queries"
)

// chromiumBinary is Debian's chromium package's binary.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install Debian's chromium package (apt-get install -y chromium; make deps does)")
	return ""
}

// artifactDir is where the test keeps what it renders: $SHELFLAKE_ARTIFACTS
// when set, else the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SHELFLAKE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium runs headless Chromium on the page with extra arguments and
// returns its standard output.
func chromium(t *testing.T, bin, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2400",
	}, args...)
	all = append(all, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// The report renders in a real browser, offline: the DOM has one SVG per
// charted line, and the screenshot (kept as a test artifact) is a picture
// with the charts' colours in it.
func TestReportRendersInChromium(t *testing.T) {
	bin := chromiumBinary(t)
	f := getFixture(t)
	s := openSession(t, f, queries.Options{})
	dir := artifactDir(t)
	htmlPath := filepath.Join(dir, "report.html")
	pngPath := filepath.Join(dir, "report-screenshot.png")
	os.Remove(pngPath)
	var buf bytes.Buffer
	r, err := Write(t.Context(), &buf, s, testOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(htmlPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	dom := string(chromium(t, bin, htmlPath, "--dump-dom"))
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium dumped no document:\n%.500s", dom)
	}
	if got, want := strings.Count(dom, "<svg"), r.ChartedLines(); got != want || want == 0 {
		t.Errorf("the DOM has %d SVG elements, want %d (one per charted line)", got, want)
	}
	for _, want := range []string{`<section id="freshness">`, `<section id="rejects">`, `<section id="suggestions">`, `<path class="sold"`, `<path class="fc"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM has no %s", want)
		}
	}

	chromium(t, bin, htmlPath, "--screenshot="+pngPath)
	fh, err := os.Open(pngPath)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot %s: %v", pngPath, err)
	}
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() != 2400 {
		t.Errorf("screenshot is %dx%d, want 1280x2400", b.Dx(), b.Dy())
	}
	colors := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			colors[rgba(img, x, y)]++
		}
	}
	if len(colors) < 2 {
		t.Fatal("the screenshot is blank")
	}
	// The on-hand area (#59a14f at 75% opacity on white: only charts have
	// it) shows that the first PO's charts are in the screenshot.
	onHand := 0
	for c, n := range colors {
		if near(c, color.RGBA{130, 184, 123, 0xff}, 2) {
			onHand += n
		}
	}
	if onHand < 500 {
		t.Errorf("the screenshot has %d pixels of the on-hand areas' colour: no chart drawn", onHand)
	}
	if sold := colors[color.RGBA{0x4e, 0x79, 0xa7, 0xff}]; sold < 500 {
		t.Errorf("the screenshot has %d pixels of the sales bars' colour: no chart drawn", sold)
	}
	t.Logf("screenshot %s (%d colours), page %s (%d bytes, %d charts)", pngPath, len(colors), htmlPath, buf.Len(), r.ChartedLines())
}

// near reports whether a and b differ by at most d in each channel.
func near(a, b color.RGBA, d int) bool {
	diff := func(x, y uint8) bool { return int(x)-int(y) <= d && int(y)-int(x) <= d }
	return diff(a.R, b.R) && diff(a.G, b.G) && diff(a.B, b.B) && a.A == b.A
}

func rgba(img image.Image, x, y int) color.RGBA {
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}
