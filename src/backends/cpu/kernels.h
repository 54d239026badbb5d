// The CPU kernels by op family. Each compile function builds the kernel of one node at its bound shapes, or declines
// it (the node then runs on the reference backend) when the node is outside what the family handles.
#pragma once

#include "backends/cpu/dnnl_kernel.h"
#include "ops/fused_conv.h"

namespace fovea::cpu {

using CompileFn = Compiled (*)(const ir::Node& node, Context& ctx);

// The compile function of the family that takes `node`'s op, or nullptr when the backend has none (cpu_backend.cc).
CompileFn find_compile(const ir::Node& node);

// conv.cc
Compiled compile_conv(const ir::Node& node, Context& ctx);  // Conv and fovea's FusedConv
Compiled compile_conv_transpose(const ir::Node& node, Context& ctx);
// matmul.cc
Compiled compile_matmul(const ir::Node& node, Context& ctx);
Compiled compile_gemm(const ir::Node& node, Context& ctx);
Compiled compile_fused_matmul(const ir::Node& node, Context& ctx);
// y[m, n] = activation(x[m, :] . w[n, :] + b[n]) over inputs x [rows, depth], constant w [width, depth] and optional
// b [width]: our own kernel for a few fp32 rows, where oneDNN is slow; nullptr where it does not apply.
std::unique_ptr<runtime::NodeKernel> skinny_product(const ir::Node& node, const Context& ctx, int64_t rows,
                                                    int64_t depth, int64_t width, const ops::Epilogue& epilogue);
// pool.cc
Compiled compile_pool(const ir::Node& node, Context& ctx);         // MaxPool, AveragePool
Compiled compile_global_pool(const ir::Node& node, Context& ctx);  // GlobalAveragePool, GlobalMaxPool
// eltwise.cc
Compiled compile_unary(const ir::Node& node, Context& ctx);  // activations and unary math
Compiled compile_erf(const ir::Node& node, Context& ctx);
Compiled compile_binary(const ir::Node& node, Context& ctx);  // Add, Sub, Mul, Div, Max, Min of two inputs
Compiled compile_sum(const ir::Node& node, Context& ctx);     // Sum, Mean of same-shaped inputs
// normalization.cc
Compiled compile_softmax(const ir::Node& node, Context& ctx);  // Softmax, LogSoftmax
Compiled compile_batch_norm(const ir::Node& node, Context& ctx);
Compiled compile_layer_norm(const ir::Node& node, Context& ctx);
// data.cc
Compiled compile_copy(const ir::Node& node, Context& ctx);  // Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
Compiled compile_transpose(const ir::Node& node, Context& ctx);
Compiled compile_split(const ir::Node& node, Context& ctx);
Compiled compile_slice(const ir::Node& node, Context& ctx);
Compiled compile_pad(const ir::Node& node, Context& ctx);
Compiled compile_concat(const ir::Node& node, Context& ctx);
Compiled compile_concat_affine(const ir::Node& node, Context& ctx);  // fovea.ConcatAffine
// reduce.cc
Compiled compile_reduce(const ir::Node& node, Context& ctx);  // ReduceMean, Sum, Max, Min, Prod, L2
// resize.cc
Compiled compile_resize(const ir::Node& node, Context& ctx);  // Resize, Upsample

}  // namespace fovea::cpu
