/*
 * taonet_torch.h: the C ABI of the taonet libtorch shim.
 *
 * Every function that can fail returns NULL on success and an error message
 * on failure, which the caller hands to tn_free. The message is allocated
 * with malloc, except when that allocation fails: then it is the static
 * message of tn_out_of_memory, which tn_free leaves alone. So a failure is
 * never NULL, and the caller frees every message the same way. Handles are
 * opaque. Buffers are host memory owned by the caller: the shim copies from
 * them and into them during the call and keeps no pointer afterwards. No
 * torch thread-local state (grad mode, streams) spans two calls.
 *
 * Layouts: inputs x are float32 [n, in_features] row-major (an image model
 * reshapes them to [n, 1, 28, 28] itself); labels are int64 [n]; logits,
 * teacher distributions and logit gradients are float32 [n, classes].
 */
#ifndef TAONET_TORCH_H
#define TAONET_TORCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TN_ABI_VERSION changes whenever a signature below changes. */
#define TN_ABI_VERSION 6

/* tn_model is one network with its optimizer. A handle is not thread-safe:
 * every tn_model_* call reads or changes the network, its gradients and
 * the optimizer state for the length of the call, so the caller serialises
 * the calls on one handle (one at a time, tn_model_free after the last).
 * Calls on distinct handles may run at once. The Go side holds Model.mu
 * (distill/torch/model.go) around every call on a live handle. */
typedef struct tn_model tn_model;

/* tn_adam_update says how a model's next Adam step is taken
 * (tn_model_adam_update writes one into an int32_t). */
typedef enum tn_adam_update {
  TN_ADAM_NOT_ADAM = 0,     /* the optimizer is not Adam */
  TN_ADAM_PER_PARAM = 1,    /* torch::optim::Adam::step, tensor by tensor */
  TN_ADAM_MULTI_TENSOR = 2, /* one pass over all tensors, portable kernel */
  TN_ADAM_FUSED = 3         /* one pass, PyTorch's fused CUDA kernel */
} tn_adam_update;

int32_t tn_abi_version(void);
/* tn_free frees an error message or a string the shim returned; NULL and
 * the message of tn_out_of_memory are left alone. */
void tn_free(char *p);
/* tn_out_of_memory returns the static message that a function returns
 * when it cannot allocate its own, so that a caller can tell it apart. */
char *tn_out_of_memory(void);

/* tn_runtime_info sets *out to a description of the runtime and its
 * settings, such as "torch 1.13.0, cuda devices 0, threads 2, blas threads 2
 * (openblas), omp wait policy PASSIVE, malloc: mmap threshold 32 MiB, trim
 * threshold 256 MiB, fused adam not built"; free it with tn_free. */
char *tn_runtime_info(char **out);
char *tn_cuda_device_count(int64_t *out);
char *tn_set_seed(uint64_t seed);
/* tn_round_trip copies n floats from host to a tensor on device and back. */
char *tn_round_trip(const float *in, int64_t n, const char *device, float *out);
/* tn_set_num_threads sets libtorch's CPU threads for the process to n, and
 * OpenBLAS's to blas when blas > 0 and libtorch runs on OpenBLAS (0 leaves
 * them). Every later call takes the count on the thread it runs on. */
char *tn_set_num_threads(int32_t n, int32_t blas);

/* tn_model_new builds architecture arch ("mlp" or "cnn") on device ("cpu",
 * "cuda", "cuda:N") with an Adam optimizer (lr 1e-3). */
char *tn_model_new(const char *arch, const char *device, tn_model **out);
void tn_model_free(tn_model *m);
char *tn_model_info(tn_model *m, int64_t *in_features, int64_t *classes,
                    int64_t *params);
/* tn_model_set_optimizer replaces the optimizer: kind "adam" (momentum is
 * ignored) or "sgd". */
char *tn_model_set_optimizer(tn_model *m, const char *kind, double lr,
                             double momentum, double weight_decay);
/* tn_model_set_lr changes the learning rate, keeping the optimizer state. */
char *tn_model_set_lr(tn_model *m, double lr);
char *tn_model_forward(tn_model *m, const float *x, int64_t n, float *logits);
/* tn_model_train_step takes one optimizer step on
 * alpha * CE(f(x_ce), labels) + (1 - alpha) * T^2 * KL(teacher || softmax(f(x_kd) / T)).
 * n_ce or n_kd may be 0 when alpha is 0 or 1 respectively. clip > 0 clips the
 * gradient norm. lr > 0 first sets the learning rate, as tn_model_set_lr
 * does (for a schedule, without a call of its own); lr 0 keeps it. out
 * receives {loss, ce, kd, grad_norm}; grad_norm is the norm before clipping
 * when clip > 0, else 0 (it costs a device sync). */
char *tn_model_train_step(tn_model *m, const float *x_ce,
                          const int64_t *labels, int64_t n_ce,
                          const float *x_kd, const float *teacher,
                          int64_t n_kd, double alpha, double temperature,
                          double clip, double lr, float *out);
/* tn_model_backward runs f(x) and backpropagates grad_logits (an external
 * gradient of some loss with respect to f(x)), clips, and takes one
 * optimizer step. out_grad_norm receives the norm before clipping when
 * clip > 0, else 0. */
char *tn_model_backward(tn_model *m, const float *x, const float *grad_logits,
                        int64_t n, double clip, float *out_grad_norm);
/* tn_loss_grad evaluates the mixed loss above on given logits (labels or
 * teacher may be NULL when alpha is 0 or 1) and its gradient with respect to
 * those logits. */
char *tn_loss_grad(const float *logits, int64_t n, int64_t classes,
                   const int64_t *labels, const float *teacher, double alpha,
                   double temperature, float *out_loss, float *grad);
/* tn_model_set_multi_tensor_adam chooses how Adam steps are taken: on (1),
 * one multi-tensor update of all parameters per step, with PyTorch's fused
 * CUDA kernel where the shim was built with it (PyTorch 2.x) and the model
 * is on CUDA, else a portable kernel of the same math; off (0),
 * torch::optim::Adam's step, tensor by tensor. Both use the same optimizer
 * state. The default is on exactly where the fused kernel runs. */
char *tn_model_set_multi_tensor_adam(tn_model *m, int32_t on);
/* tn_model_adam_update sets *out to how the next step is taken, a
 * tn_adam_update. */
char *tn_model_adam_update(tn_model *m, int32_t *out);
/* tn_model_params copies every parameter, flattened and concatenated in the
 * model's order, into out, which holds n floats (n must be the count
 * tn_model_info reports). */
char *tn_model_params(tn_model *m, float *out, int64_t n);
/* tn_model_set_params overwrites every parameter from in, n floats in
 * tn_model_params's layout (parameter averaging). It refuses a wrong count
 * or a non-finite value before changing anything; the optimizer's state
 * is kept. */
char *tn_model_set_params(tn_model *m, const float *in, int64_t n);
/* tn_model_save writes parameters, the optimizer's kind, state, learning
 * rate, momentum and weight decay, and the architecture name to path.
 * tn_model_load restores the parameters and, when the kinds match, the
 * optimizer with its settings; it refuses a checkpoint of another
 * architecture and leaves the model unchanged on any error. */
char *tn_model_save(tn_model *m, const char *path);
char *tn_model_load(tn_model *m, const char *path);

#ifdef __cplusplus
}
#endif

#endif
