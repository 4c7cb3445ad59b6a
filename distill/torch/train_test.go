package torch_test

import (
	"math"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

func TestTrainStepLossDecreases(t *testing.T) {
	x, y := batch(32, 11)
	for _, tc := range []struct {
		name  string
		arch  string
		opt   torch.Optimizer
		alpha float64
	}{
		{"OK/mlp-adam-ce", torch.ArchMLP, torch.Optimizer{Kind: torch.OptAdam, LR: 1e-3}, 1},
		{"OK/cnn-adam-ce", torch.ArchCNN, torch.Optimizer{Kind: torch.OptAdam, LR: 3e-3}, 1},
		{"OK/mlp-sgd-mixed", torch.ArchMLP, torch.Optimizer{Kind: torch.OptSGD, LR: 0.05, Momentum: 0.9}, 0.5},
		{"OK/mlp-adam-kd", torch.ArchMLP, torch.Optimizer{Kind: torch.OptAdam, LR: 1e-3}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustModel(t, tc.arch, 3)
			if err := m.SetOptimizer(tc.opt); err != nil {
				t.Fatal(err)
			}
			teacher := sharp(y) // a sharp distribution on the labels
			step := torch.Step{X: x, Labels: y, TransferX: x, Teacher: teacher, Alpha: tc.alpha, Temperature: 2, Clip: 5}
			var first, last torch.StepStats
			for i := range 40 {
				st, err := m.TrainStep(step)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = st
				}
				last = st
			}
			if !(last.Loss < first.Loss/3) {
				t.Fatalf("loss went from %v to %v; want below a third", first.Loss, last.Loss)
			}
			want := float32(tc.alpha)*first.CE + float32(1-tc.alpha)*first.KD
			if math.Abs(float64(first.Loss-want)) > 1e-4 {
				t.Fatalf("loss %v is not alpha*CE + (1-alpha)*KD = %v", first.Loss, want)
			}
			if first.GradNorm <= 0 {
				t.Fatalf("grad norm %v", first.GradNorm)
			}
		})
	}
}

func TestTrainStepBadInput(t *testing.T) {
	m := mustModel(t, torch.ArchMLP, 1)
	x, y := batch(4, 1)
	uniform := make([]float32, 40)
	for i := range uniform {
		uniform[i] = 0.1
	}
	notDist := append([]float32(nil), uniform...)
	notDist[5] = 0.5
	nanX := append([]float32(nil), x...)
	nanX[7] = float32(math.NaN())
	for _, tc := range []struct {
		name, want string
		s          torch.Step
	}{
		{"ErrShape", "whole number", torch.Step{X: x[:100], Labels: y, Alpha: 1}},
		{"ErrLabelCount", "3 labels for 4 input rows", torch.Step{X: x, Labels: y[:3], Alpha: 1}},
		{"ErrLabelRange", "label 2 is 10", torch.Step{X: x, Labels: []int64{0, 1, 10, 2}, Alpha: 1}},
		{"ErrNaN", "value 7 is NaN", torch.Step{X: nanX, Labels: y, Alpha: 1}},
		{"ErrTeacherShape", "teacher: 30 values, want 40", torch.Step{TransferX: x, Teacher: uniform[:30], Alpha: 0}},
		{"ErrTeacherNotDistribution", "row 0 sums to 1.4000", torch.Step{TransferX: x, Teacher: notDist, Alpha: 0}},
		{"ErrNoTeacher", "transfer: empty input", torch.Step{X: x, Labels: y, Alpha: 0.5}},
		{"ErrAlpha", "alpha 1.5", torch.Step{X: x, Labels: y, Alpha: 1.5}},
		{"ErrTemperature", "temperature -1", torch.Step{X: x, Labels: y, Alpha: 1, Temperature: -1}},
		{"ErrClipNegative", "clip -1", torch.Step{X: x, Labels: y, Alpha: 1, Clip: -1}},
		{"ErrClipNaN", "clip NaN", torch.Step{X: x, Labels: y, Alpha: 1, Clip: math.NaN()}},
		{"ErrLRNegative", "learning rate -0.1", torch.Step{X: x, Labels: y, Alpha: 1, LR: -0.1}},
		{"ErrLRInf", "learning rate +Inf", torch.Step{X: x, Labels: y, Alpha: 1, LR: math.Inf(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustForward(t, m, x)
			_, err := m.TrainStep(tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if d := maxDiff(before, mustForward(t, m, x)); d != 0 {
				t.Fatalf("a refused step changed the model by %g", d)
			}
		})
	}
	t.Run("ErrOptimizer", func(t *testing.T) {
		for _, o := range []torch.Optimizer{{Kind: "rmsprop", LR: 1}, {Kind: torch.OptSGD, LR: 0}, {Kind: torch.OptSGD, LR: 0.1, Momentum: 1}} {
			if err := m.SetOptimizer(o); err == nil {
				t.Errorf("%+v accepted", o)
			}
		}
	})
}

// TestBackwardMatchesAnalytic feeds Backward the closed-form gradient of
// the mean cross-entropy with respect to the logits, (softmax(z) -
// onehot(y)) / n, and checks that the SGD step it takes equals the step
// libtorch's own cross-entropy takes on an identical model.
func TestBackwardMatchesAnalytic(t *testing.T) {
	x, y := batch(8, 5)
	for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
		t.Run("OK/"+arch, func(t *testing.T) {
			ext := mustModel(t, arch, 9)
			ref := mustModel(t, arch, 9)
			mustSGD(t, ext, 0.5)
			mustSGD(t, ref, 0.5)
			z := mustForward(t, ext, x)
			p := softmaxRows(z, 10, 1)
			g := make([]float32, len(z))
			for i := range g {
				g[i] = float32(p[i] / 8)
			}
			for r, c := range y {
				g[r*10+int(c)] -= 1.0 / 8
			}
			extNorm, err := ext.Backward(x, g, noClip)
			if err != nil {
				t.Fatal(err)
			}
			st, err := ref.TrainStep(torch.Step{X: x, Labels: y, Alpha: 1, Clip: noClip})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(extNorm-st.GradNorm)) > 1e-4*float64(st.GradNorm) {
				t.Fatalf("gradient norms: external %v, cross-entropy %v", extNorm, st.GradNorm)
			}
			after := mustForward(t, ext, x)
			if d := maxDiff(after, z); d < 1e-3 {
				t.Fatalf("the step barely moved the logits (%g); the comparison would prove nothing", d)
			}
			if d := maxDiff(after, mustForward(t, ref, x)); d > 1e-4 {
				t.Fatalf("external-gradient step and cross-entropy step differ by %g", d)
			}
		})
	}
	m := mustModel(t, torch.ArchMLP, 1)
	nanG := make([]float32, 80)
	nanG[3] = float32(math.NaN())
	for _, tc := range []struct {
		name, want string
		g          []float32
		clip       float64
	}{
		{"ErrGradShape", "gradient has 79 values, want 80", make([]float32, 79), 0},
		{"ErrGradNaN", "gradient: value 3 is NaN", nanG, 0},
		{"ErrClip", "clip -1", make([]float32, 80), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Backward(x, tc.g, tc.clip); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("OK/clip", func(t *testing.T) {
		a, b := mustModel(t, torch.ArchMLP, 4), mustModel(t, torch.ArchMLP, 4)
		mustSGD(t, a, 1e-3)
		mustSGD(t, b, 1e-3)
		g := make([]float32, 80)
		for i := range g {
			g[i] = float32(i%7) - 3
		}
		z := mustForward(t, a, x)
		na, err := a.Backward(x, g, noClip)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := b.Backward(x, g, float64(na)/10)
		if err != nil {
			t.Fatal(err)
		}
		// Clipping to a tenth of the norm makes the step a tenth as long.
		da, db := maxDiff(mustForward(t, a, x), z), maxDiff(mustForward(t, b, x), z)
		if math.Abs(float64(na-nb)) > 1e-4*float64(na) || db > da/5 || db < da/20 {
			t.Fatalf("norms %v/%v, moves unclipped %g clipped %g", na, nb, da, db)
		}
	})
}

// TestLossGrad checks the libtorch gradient of the mixed loss against its
// closed form alpha*(softmax(z)-onehot)/n + (1-alpha)*T*(softmax(z/T)-teacher)/n
// and against central finite differences of the returned loss.
func TestLossGrad(t *testing.T) {
	const rows, classes, alpha, temp = 3, 4, 0.3, 2.5
	z := []float32{1, -2, 0.5, 3, 0, 0, 0, 0, 10, -10, 4, 2}
	y := []int64{3, 1, 0}
	teacher := []float32{0.1, 0.2, 0.3, 0.4, 0.25, 0.25, 0.25, 0.25, 0.7, 0, 0.2, 0.1}
	mustOpen(t)
	loss, grad, err := torch.LossGrad(z, classes, y, teacher, alpha, temp)
	if err != nil {
		t.Fatal(err)
	}
	p1, pt := softmaxRows(z, classes, 1), softmaxRows(z, classes, temp)
	for i := range z {
		want := alpha*p1[i]/rows + (1-alpha)*temp*(pt[i]-float64(teacher[i]))/rows
		if int64(i%classes) == y[i/classes] {
			want -= alpha / rows
		}
		if math.Abs(float64(grad[i])-want) > 1e-5 {
			t.Errorf("grad[%d] = %v, closed form %v", i, grad[i], want)
		}
	}
	for i := range z {
		const h = 1e-2
		zp, zm := append([]float32(nil), z...), append([]float32(nil), z...)
		zp[i] += h
		zm[i] -= h
		lp, _, err1 := torch.LossGrad(zp, classes, y, teacher, alpha, temp)
		lm, _, err2 := torch.LossGrad(zm, classes, y, teacher, alpha, temp)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if fd := float64(lp-lm) / (2 * h); math.Abs(fd-float64(grad[i])) > 2e-3 {
			t.Errorf("grad[%d] = %v, finite difference %v", i, grad[i], fd)
		}
	}
	if loss <= 0 {
		t.Fatalf("loss %v", loss)
	}
	for _, tc := range []struct {
		name, want string
		z          []float32
		y          []int64
		teacher    []float32
		alpha      float64
	}{
		{"ErrRagged", "not whole rows", z[:11], y, teacher, alpha},
		{"ErrNaN", "value 2 is NaN", []float32{0, 1, float32(math.NaN()), 0}, []int64{0}, nil, 1},
		{"ErrNoLabels", "0 labels for 3 input rows", z, nil, teacher, alpha},
		{"ErrNoTeacher", "teacher: 0 values", z, y, nil, alpha},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := torch.LossGrad(tc.z, classes, tc.y, tc.teacher, tc.alpha, temp); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestTrainStepLR checks that a step's LR is the rate of that step and of
// the next ones, as SetLR before the step would make it.
func TestTrainStepLR(t *testing.T) {
	x, y := batch(8, 3)
	a, b := mustModel(t, torch.ArchMLP, 9), mustModel(t, torch.ArchMLP, 9)
	mustSGD(t, a, 0.5)
	mustSGD(t, b, 0.5)
	if err := a.SetLR(0.01); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sa, sb := torch.Step{X: x, Labels: y, Alpha: 1}, torch.Step{X: x, Labels: y, Alpha: 1}
		if i == 0 {
			sb.LR = 0.01 // then kept: the other steps pass 0
		}
		if _, err := a.TrainStep(sa); err != nil {
			t.Fatal(err)
		}
		if _, err := b.TrainStep(sb); err != nil {
			t.Fatal(err)
		}
	}
	if d := maxDiff(mustParams(t, a), mustParams(t, b)); d != 0 {
		t.Fatalf("parameters differ by %g after the same steps at the same rate", d)
	}
}
