// A convolution with its bias, residual and activation fused into one cuDNN kernel, through cuDNN's graph API
// (runtime-fusion engines): the legacy API fuses only ReLU, and reaches only its eight fixed algorithms, not the
// newer engines the graph heuristics offer. NHWC fp16 in and out, float accumulation. The build measures the
// heuristics' candidates on the real buffers and keeps the fastest; a caller compares it with the legacy path.
#pragma once

#include <cudnn.h>

#include <array>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/kernels/kernels.h"
#include "fovea/status.h"

namespace fovea::cuda {

struct GraphConvSpec {
    int64_t n = 0, c = 0, h = 0, w = 0;  // input, NHWC
    int64_t k = 0, r = 0, s = 0;         // filters, KRSC
    int64_t p = 0, q = 0;                // output height and width, NHWC
    std::array<int64_t, 2> pads{}, strides{1, 1}, dilations{1, 1};
    bool bias = false, sum = false;       // y = act(conv + bias[k] + sum)
    Unary activation = Unary::kIdentity;  // kIdentity, kRelu, kSigmoid or kSiLU
};

// Whether the graph path can express this epilogue. FOVEA_CUDA_GRAPH_CONV=0 turns the path off: its runtime-fusion
// kernels are compiled at engine build (seconds per model, and again from the engine cache), which a quick start
// may value above their speed.
bool graph_conv_supports(Unary activation);
// FOVEA_CUDA_GRAPH_CONV=force: every convolution the graph path can express takes it, untimed, and a build fails
// where cuDNN has no engine for one (tests of the path itself).
bool graph_conv_forced();

struct GraphConvBuffers {
    const void* x;
    const void* w;
    const void* bias;  // may be null when !spec.bias
    const void* sum;   // may be null when !spec.sum
    void* y;
};

// A finalized execution plan (its kernel compiled) with what it was made from; shared by every convolution of its
// spec, each executing it on its own buffers.
struct GraphPlan;

// The plans of one engine build, by spec (null: no engine runs it), ready or still compiling. Compiling is what a build
// spends its time on, and a network repeats shapes: ResNet-50's 53 convolutions have about 20 distinct ones.
using GraphPlans = std::map<std::string, std::shared_future<std::shared_ptr<const GraphPlan>>>;

class GraphConv {
  public:
    ~GraphConv();
    GraphConv(const GraphConv&) = delete;
    GraphConv& operator=(const GraphConv&) = delete;

    // The fastest of the heuristics' first candidates, each timed on `stream` with `scratch` as workspace; or, with
    // `only` >= 0, that candidate untimed (a cached choice). A plan already in `plans` for this spec is reused, a new
    // one recorded there. The candidates compile in the background; the first call that needs the plan (usable,
    // measured_ms, workspace, candidate) waits for them and, for a search, times them on the calling thread, so
    // `stream`, `scratch` and `buffers` must stay valid until then. A build therefore asks after it has started
    // every convolution's compilation: compilations of different specs overlap.
    static std::unique_ptr<GraphConv> build(cudnnHandle_t handle, cudaStream_t stream, const GraphConvSpec& spec,
                                            const GraphConvBuffers& buffers, void* scratch, size_t scratch_bytes,
                                            int only, GraphPlans& plans);

    // Whether a plan compiled (and, for a search, ran) and fits `workspace_bytes`. Else the caller runs its legacy
    // path.
    bool usable(size_t workspace_bytes) const;
    Status run(cudnnHandle_t handle, void* workspace);
    int candidate() const;
    size_t workspace() const;
    float measured_ms() const;

  private:
    GraphConv() = default;
    const GraphPlan* plan() const;  // null: it did not compile
    std::shared_future<std::shared_ptr<const GraphPlan>> plan_;
    int only_ = -1;
    std::vector<int64_t> uids_;
    std::vector<void*> pointers_;              // one per id in uids_
    cudnnBackendDescriptor_t pack_ = nullptr;  // for pack_workspace_
    void* pack_workspace_ = nullptr;
};

}  // namespace fovea::cuda
