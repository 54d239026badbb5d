// ONNX import: the only place that knows protobuf. Produces a sorted, verified, shape-inferred ir::Graph.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::onnx {

// The default-domain opsets fovea imports.
constexpr int kMinOpset = 1;
constexpr int kMaxOpset = 17;

// Parses a model file; external tensor data is read relative to the file's folder.
Result<std::unique_ptr<ir::Graph>> import_file(const std::string& path);
// Parses a model from memory; `base_dir` resolves external data; `what` names the source in errors.
Result<std::unique_ptr<ir::Graph>> import_bytes(std::span<const std::byte> bytes, const std::string& base_dir,
                                                const std::string& what);
// Reads a serialized TensorProto (the ONNX test-data .pb files).
Result<Tensor> read_tensor_file(const std::string& path);

}  // namespace fovea::onnx
