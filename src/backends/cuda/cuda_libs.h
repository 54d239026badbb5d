// cuDNN, cuBLAS and cuBLASLt are loaded when the cuda backend is first used, not when the process starts: linked at
// load time, cuBLASLt's static constructors alone made every fovea process ~190 MB larger (its code and zero-filled
// data touched before main), CPU-only runs included, and a CUDA build could not start where they are not installed.
// cuda_libs.cc defines the few cuDNN/cuBLAS/cuBLASLt functions the backend calls as forwarders to the real ones, found
// with dlopen/dlsym; nothing in this folder changes, and nothing links -lcudnn, -lcublas or -lcublasLt.
#pragma once

#include "fovea/status.h"

namespace fovea::cuda {

// Loads cuDNN, cuBLAS and cuBLASLt once per process (by soname: LD_LIBRARY_PATH, the loader cache; then the directories
// this build found them in). Ok, or which library could not be loaded and why. A forwarder called before this succeeded
// returns NOT_INITIALIZED.
Status load_cuda_libraries();

}  // namespace fovea::cuda
