// Session: a model loaded, its dynamic dimensions bound, ready to run on one backend.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"

namespace fovea {

namespace ir {
class Graph;
}

struct SessionOptions {
    std::string backend = "ref";  // "ref" today; "cpu" and "cuda" come with their backends
    // Concrete shapes for inputs with dynamic dims; inputs not named here bind at their first run.
    std::map<std::string, Shape> input_shapes;
    int threads = 0;  // 0: all cores (backends that use threads)
};

// Name, dtype and shape of a model input or output; -1 marks a dynamic dim, `dim_params` its symbolic name.
struct TensorDesc {
    std::string name;
    DType dtype = DType::kFloat32;
    Shape shape;
    std::vector<std::string> dim_params;
};

// The backends this build can run, in order of preference for tests ("ref" always).
std::vector<std::string> available_backends();

class Session {
  public:
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Loads an ONNX model file (external data files are resolved next to it).
    static Result<std::unique_ptr<Session>> load(const std::string& path, const SessionOptions& options = {});
    // Loads an ONNX model from memory; `base_dir` resolves external data, if any.
    static Result<std::unique_ptr<Session>> load_from_memory(std::span<const std::byte> bytes,
                                                             const SessionOptions& options = {},
                                                             const std::string& base_dir = ".");

    const std::vector<TensorDesc>& inputs() const { return inputs_; }
    const std::vector<TensorDesc>& outputs() const { return outputs_; }

    // Runs the model. Inputs are matched by name; all model inputs are required. Outputs come in model order.
    // A new input shape rebinds the dynamic dims (shape inference and constant folding run again).
    Result<std::vector<Tensor>> run(const std::map<std::string, Tensor>& inputs);

    // The bound, shape-inferred graph (for inspection tools).
    const ir::Graph& graph() const { return *graph_; }

  private:
    Session() = default;
    static Result<std::unique_ptr<Session>> create(std::unique_ptr<ir::Graph> graph, const SessionOptions& options);
    Status bind(const std::map<std::string, Shape>& shapes);

    std::unique_ptr<ir::Graph> graph_;
    SessionOptions options_;
    std::vector<TensorDesc> inputs_;
    std::vector<TensorDesc> outputs_;
    std::vector<std::optional<Shape>> declared_shapes_;  // per input, as the model file declares it
    std::map<std::string, Shape> bound_;
};

}  // namespace fovea
