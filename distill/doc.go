// Package distill holds what peers and the coordinator share about models:
// tensors on the wire, datasets and non-IID partitioning, and the
// distillation math, in pure Go. The libtorch engine lives in distill/torch
// and is linked only by peers.
package distill
