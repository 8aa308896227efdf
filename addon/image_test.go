package addon

import (
	"bytes"
	"context"
	"debug/elf"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBuildScriptCrossCompilesForAarch64 runs the build script as the
// Dockerfile's build stage does for an aarch64 image, on this machine: the
// binary must be a static arm64 executable stamped with the version.
func TestBuildScriptCrossCompilesForAarch64(t *testing.T) {
	out := filepath.Join(t.TempDir(), "nuki-invites")
	cmd := exec.Command("bash", filepath.Join(rootDir, ".ci", "build"))
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "OUT="+out, "VERSION=9.8.7-cross")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf(".ci/build for linux/arm64: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("the build made no ELF file: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("binary for machine %v, class %v, OS ABI %v; want a 64-bit Linux aarch64 executable", f.Machine, f.Class, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has a %v program header: it is not static, and the scratch image has no loader", p.Type)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("9.8.7-cross")) {
		t.Error("the binary does not carry the version it was built with")
	}
}

// TestShippedBuildLeavesTheDemoOut: the binary the image ships runs the
// daemon's commands, and answers the demo and the simulator, which it leaves
// out, with a clear word on where to find them.
func TestShippedBuildLeavesTheDemoOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "nuki-invites")
	cmd := exec.Command("bash", filepath.Join(rootDir, ".ci", "build"))
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION=9.8.7-shipped")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf(".ci/build: %v\n%s", err, b)
	}
	if b, err := exec.Command(out, "version").CombinedOutput(); err != nil || !strings.Contains(string(b), "9.8.7-shipped") {
		t.Errorf("nuki-invites version: %v, %q", err, b)
	}
	for _, sub := range []string{"demo", "simulate"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		b, err := exec.CommandContext(ctx, out, sub, "--help").CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(b), "go run ./cmd/nuki-invites demo") {
			t.Errorf("nuki-invites %s in the shipped build: %v, %q; want a refusal that says how to run the demo", sub, err, b)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("mochi-mqtt")) || bytes.Contains(b, []byte("nukisim")) {
		t.Error("the shipped binary still carries the embedded broker or the simulator")
	}
}

// dockerStage returns the build stage of the Dockerfile: from its FROM line
// to the next FROM.
func dockerStage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rootDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := regexp.MustCompile(`(?m)^FROM .* AS build$`).FindStringIndex(s)
	if start == nil {
		t.Fatal("Dockerfile has no build stage (FROM … AS build)")
	}
	s = s[start[0]:]
	if end := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(s, 2); len(end) == 2 {
		s = s[:end[1][0]]
	}
	return s
}

// runInstruction returns the RUN instruction of the stage whose command
// starts with prefix, continuation lines joined.
func runInstruction(t *testing.T, stage, prefix string) string {
	t.Helper()
	joined := strings.ReplaceAll(stage, "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		if cmd, ok := strings.CutPrefix(line, "RUN "); ok && strings.HasPrefix(strings.TrimSpace(cmd), prefix) {
			return cmd
		}
	}
	t.Fatalf("the build stage has no RUN %s…", prefix)
	return ""
}

func TestDockerfileCrossCompilesInTheBuildStage(t *testing.T) {
	stage := dockerStage(t)
	first, _, _ := strings.Cut(stage, "\n")
	if !strings.Contains(first, "--platform=$BUILDPLATFORM") {
		t.Errorf("the build stage %q does not run on the building machine's platform", first)
	}
	if !regexp.MustCompile(`(?m)^ARG TARGETARCH$`).MatchString(stage) {
		t.Error("the build stage does not declare ARG TARGETARCH, so the platform's architecture does not reach it")
	}
	build := runInstruction(t, stage, "GOOS=")
	if !strings.Contains(build, `GOARCH="${TARGETARCH}"`) || !strings.Contains(build, ".ci/build") {
		t.Errorf("the build step %q does not hand TARGETARCH to .ci/build as GOARCH", build)
	}
}

// TestDockerfileRefusesAMislabelledArchitecture runs the build stage's
// architecture check as Docker would, with the arguments a build gets.
func TestDockerfileRefusesAMislabelledArchitecture(t *testing.T) {
	check := runInstruction(t, dockerStage(t), "case")
	tests := []struct {
		buildArch, targetArch string
		ok                    bool
	}{
		{"amd64", "amd64", true},
		{"aarch64", "arm64", true}, // Home Assistant's aarch64 is Docker's linux/arm64
		{"aarch64", "", true},      // the classic builder sets no TARGETARCH
		{"amd64", "arm64", false},  // an arm64 binary labelled amd64
		{"aarch64", "amd64", false},
	}
	for _, tt := range tests {
		t.Run(tt.buildArch+"/"+tt.targetArch, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", check)
			cmd.Env = append(os.Environ(), "BUILD_ARCH="+tt.buildArch, "TARGETARCH="+tt.targetArch)
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tt.ok {
				t.Errorf("BUILD_ARCH=%s TARGETARCH=%s: build goes on = %v, want %v (%s)", tt.buildArch, tt.targetArch, ok, tt.ok, out)
			}
			if !tt.ok && !strings.Contains(string(out), "--build-arg BUILD_ARCH=aarch64") {
				t.Errorf("the refusal %q does not say how to build", out)
			}
		})
	}
}

// decodePNG reads a PNG file of the add-on.
func decodePNG(t *testing.T, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join(rootDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", name, err)
	}
	return img
}

// iconFill returns the fill colour of the rounded square that is icon.svg's
// background: the first fill of the drawing.
func iconFill(t *testing.T) color.RGBA {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rootDir, "bridge", "web", "assets", "icon.svg"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`fill="#([0-9a-fA-F]{6})"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("icon.svg has no fill colour")
	}
	v, _ := strconv.ParseUint(string(m[1]), 16, 32)
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
}

// share returns the share of img's opaque pixels within a small distance of c.
func share(img image.Image, c color.RGBA) float64 {
	near := func(a, b uint32) bool { d := int(a>>8) - int(b); return d > -12 && d < 12 }
	var opaque, match int
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			if a>>8 < 250 {
				continue
			}
			opaque++
			if near(r, uint32(c.R)) && near(g, uint32(c.G)) && near(b, uint32(c.B)) {
				match++
			}
		}
	}
	if opaque == 0 {
		return 0
	}
	return float64(match) / float64(opaque)
}

func TestIconIsA128PixelPNGOfThePagesIcon(t *testing.T) {
	icon := decodePNG(t, "icon.png")
	if b := icon.Bounds(); b.Dx() != 128 || b.Dy() != 128 {
		t.Errorf("icon.png is %d×%d, want 128×128", b.Dx(), b.Dy())
	}
	// The same drawing: the page icon's background colour covers most of it,
	// and its rounded corners are transparent.
	fill := iconFill(t)
	if s := share(icon, fill); s < 0.5 {
		t.Errorf("icon.svg's colour %v covers %.0f%% of icon.png, want most of it: it is not the same drawing", fill, 100*s)
	}
	if _, _, _, a := icon.At(0, 0).RGBA(); a != 0 {
		t.Error("icon.png's corner is not transparent, unlike icon.svg's rounded square")
	}
}

func TestLogoShowsThePagesIcon(t *testing.T) {
	logo := decodePNG(t, "logo.png")
	b := logo.Bounds()
	if b.Dx() < b.Dy() || b.Dy() < 64 {
		t.Errorf("logo.png is %d×%d, want a landscape logo at least 64 pixels high", b.Dx(), b.Dy())
	}
	square := logo.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X, b.Min.Y, b.Min.X+b.Dy(), b.Max.Y))
	if s := share(square, iconFill(t)); s < 0.5 {
		t.Errorf("the left square of logo.png is %.0f%% icon.svg's colour, want the icon there", 100*s)
	}
}
