// .npy files (NumPy format 1.0-3.0): little-endian, C order, fovea's dtypes.
#pragma once

#include <string>

#include "fovea/status.h"
#include "fovea/tensor.h"

namespace fovea {

// Reads a .npy file; Fortran order, big-endian data, unknown dtypes and truncated files are errors naming the file.
Result<Tensor> read_npy(const std::string& path);
// Parses .npy bytes; `what` names the source in errors.
Result<Tensor> parse_npy(std::string_view bytes, const std::string& what);
// Writes `t` as a version 1.0 .npy file.
Status write_npy(const std::string& path, const Tensor& t);

}  // namespace fovea
