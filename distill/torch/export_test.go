package torch

// OutOfMemoryError is what cerr makes of the shim's static out-of-memory
// message, which every entry point returns when it cannot allocate its own.
func OutOfMemoryError() error { return cerr(outOfMemory) }
