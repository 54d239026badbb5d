#include "ir/passes/passes.h"

#include "ops/infer_graph.h"

namespace fovea::ir::passes {

const std::vector<Pass>& default_pipeline() {
    static const std::vector<Pass> pipeline = {
        {"eliminate_dead_nodes", &eliminate_dead_nodes},
        {"remove_identity", &remove_identity},
        {"cancel_transpose_reshape", &cancel_transpose_reshape},
        {"fold_batchnorm", &fold_batchnorm},
        {"fold_affine", &fold_affine},
        {"batchnorm_to_conv", &batchnorm_to_conv},
        {"fuse_residual_add", &fuse_residual_add},
        {"fuse_activation", &fuse_activation},
        {"fuse_linear", &fuse_linear},
        {"fuse_layernorm", &fuse_layernorm},
        {"fuse_activation_patterns", &fuse_activation_patterns},
        {"fold_affine_into_conv", &fold_affine_into_conv},
    };
    return pipeline;
}

std::vector<Pass> backend_pipeline(std::string_view backend, std::string_view precision) {
    if (backend == "cpu" && precision == "fp32") return {{"fuse_concat_affine", &fuse_concat_affine}};
    return {};
}

Result<std::vector<PassReport>> optimize(Graph& graph, std::string_view backend, std::string_view precision) {
    std::vector<PassReport> reports;
    FOVEA_TRY(graph.sort());
    std::vector<Pass> passes = default_pipeline();
    for (const Pass& pass : backend_pipeline(backend, precision)) passes.push_back(pass);
    for (const Pass& pass : passes) {
        PassReport report{std::string(pass.name), static_cast<int>(graph.nodes().size()), 0};
        Status s = pass.run(graph);
        if (s.is_ok()) s = graph.sort();
        if (!s.is_ok()) return s.with_context("pass " + report.name);
        report.nodes_after = static_cast<int>(graph.nodes().size());
        reports.push_back(std::move(report));
    }
    graph.remove_unused_values();
    FOVEA_TRY(graph.verify());
    FOVEA_TRY(ops::infer_graph(graph, nullptr));
    return reports;
}

}  // namespace fovea::ir::passes
