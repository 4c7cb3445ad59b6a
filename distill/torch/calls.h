/*
 * calls.h: the C functions through which Go calls the shim. The shim is
 * loaded with dlopen (loader.go), so Go cannot call its entry points by
 * name: loader.go resolves each tn_X into a pointer and defines c_X, which
 * calls it. Each c_X is declared here with the type of tn_X in
 * shim/taonet_torch.h, the one place the signatures are written, so a
 * trampoline that disagrees with the shim's header does not compile. Every
 * Go file that calls the shim includes this header.
 */
#ifndef TAONET_TORCH_CALLS_H
#define TAONET_TORCH_CALLS_H

#include "shim/taonet_torch.h"

/* TN_CALLS lists every entry point of the shim, without its tn_ prefix. */
#define TN_CALLS(X) \
	X(abi_version) \
	X(free) \
	X(out_of_memory) \
	X(runtime_info) \
	X(cuda_device_count) \
	X(set_seed) \
	X(set_num_threads) \
	X(round_trip) \
	X(model_new) \
	X(model_free) \
	X(model_info) \
	X(model_set_optimizer) \
	X(model_set_lr) \
	X(model_forward) \
	X(model_train_step) \
	X(model_backward) \
	X(loss_grad) \
	X(model_save) \
	X(model_load) \
	X(model_set_multi_tensor_adam) \
	X(model_adam_update) \
	X(model_params) \
	X(model_set_params)

#define TN_DECLARE_CALL(name) __typeof__(tn_##name) c_##name;
TN_CALLS(TN_DECLARE_CALL)
#undef TN_DECLARE_CALL

#endif
