// Package distill holds what peers and the coordinator share about models,
// in pure Go (it never links libtorch; the engine is distill/torch):
//
//   - tensors on the wire: codecs for all six wire dtypes (float32,
//     float16 and bfloat16 rounded to nearest even, int64, int32, uint8)
//     with dtype and size checks, logits, top-k log-probabilities (int32
//     indices) and their rebuild, and chunking whose declared size is
//     refused over a limit before anything is allocated;
//   - data: an IDX (gzip) reader for Fashion-MNIST with clear errors for
//     missing or corrupt files, the pools of docs/design.md "Data and models"
//     (training split: 10,000 public transfer + 50,000 private; test split:
//     5,000 validation + 5,000 report), and the Dirichlet(alpha) label-skew
//     partition of the private pool, deterministic from (seed, n);
//   - distillation math: softmax, log-softmax, cross-entropy, accuracy,
//     the weighted teacher ensemble and the teacher gradient of mutual
//     learning, stable for large logits and refusing NaN and Inf; the
//     round's transfer sample, the same on every peer.
package distill
