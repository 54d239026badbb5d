// `fovea inspect MODEL`: inputs, outputs, op histogram, parameters and MACs at the given shapes; with --optimized,
// of the graph the optimizing backends run, after a table of what each pass did.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "backends/cpu/precision.h"
#include "commands.h"
#include "fovea/session.h"
#include "ir/graph.h"
#include "ir/passes/passes.h"
#include "ir/stats.h"
#include "onnx/importer.h"

namespace fovea::cli {

namespace {

std::string desc_text(const TensorDesc& d) {
    std::string s = std::string(dtype_name(d.dtype)) + "[";
    for (size_t i = 0; i < d.shape.size(); ++i) {
        if (i) s += ",";
        const std::string& p = i < d.dim_params.size() ? d.dim_params[i] : std::string();
        s += !p.empty() ? p : d.shape[i] < 0 ? "?" : std::to_string(d.shape[i]);
    }
    return s + "]";
}

// The optimizer's passes on a fresh import of the model (the session runs the same passes but keeps no report), then
// what constant folding left to run in the session's graph at its bound shapes.
Status print_pass_reports(const std::string& model, const ir::Graph& bound) {
    FOVEA_ASSIGN(auto graph, onnx::import_file(model));
    FOVEA_ASSIGN(const auto reports, ir::passes::optimize(*graph, "cpu"));
    std::printf("passes:\n  %-24s %8s %8s\n", "pass", "before", "after");
    for (const auto& r : reports) std::printf("  %-24s %8d %8d\n", r.name.c_str(), r.nodes_before, r.nodes_after);
    const auto& nodes = bound.nodes();
    const auto left =
        std::count_if(nodes.begin(), nodes.end(), [](const auto& n) { return !ir::passes::is_folded(*n); });
    std::printf("  %-24s %8zu %8td  (at bind: nodes left to run at the bound shapes)\n", "fold_constants", nodes.size(),
                left);
    return Status::ok();
}

// Which convolutions and matrix products backend cpu runs in bf16 under --precision bf16 (backends/cpu/precision.h).
void print_bf16_plan(const ir::Graph& graph, bool list) {
    const auto fp32 = cpu::plan_fp32_nodes(graph);
    int matrix = 0;
    std::map<std::string_view, int> reasons;
    for (const auto& n : graph.nodes()) matrix += cpu::is_matrix_node(*n);
    for (const auto& [node, reason] : fp32) ++reasons[cpu::fp32_reason_name(reason)];
    std::printf("bf16 precision (backend cpu): %d of %d convolutions and matrix products in bf16, %zu in fp32",
                matrix - static_cast<int>(fp32.size()), matrix, fp32.size());
    const char* sep = " (";
    for (const auto& [name, n] : reasons) {
        std::printf("%s%d %.*s", sep, n, static_cast<int>(name.size()), name.data());
        sep = ", ";
    }
    std::printf("%s\n", fp32.empty() ? "" : ")");
    if (reasons.count(cpu::fp32_reason_name(cpu::Fp32Reason::kDepthwise)))
        std::printf("  (a depthwise one computes in bf16 after all where a session stores its source in bf16)\n");
    if (!list) return;
    for (const auto& n : graph.nodes()) {
        auto it = fp32.find(n.get());
        if (it == fp32.end()) continue;
        const std::string_view why = cpu::fp32_reason_name(it->second);
        std::printf("  fp32: %s %s (%.*s)\n", n->op_type.c_str(), n->outputs.empty() ? "" : n->outputs[0]->name.c_str(),
                    static_cast<int>(why.size()), why.data());
    }
}

std::string with_units(double v) {
    char buf[32];
    if (v >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f G", v / 1e9);
    else if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        std::snprintf(buf, sizeof buf, "%.2f K", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

}  // namespace

Command add_inspect(CLI::App& app) {
    auto* sub = app.add_subcommand("inspect", "Show a model's inputs, outputs, ops, parameters and MACs");
    auto model = std::make_shared<std::string>();
    auto shapes = std::make_shared<std::vector<std::string>>();
    auto graph = std::make_shared<bool>(false);
    auto optimized = std::make_shared<bool>(false);
    sub->add_option("model", *model, "ONNX model file")->required();
    sub->add_option("--shape", *shapes, "Bind an input's shape, e.g. --shape x=1,3,640,640 (repeatable)");
    sub->add_flag("--graph", *graph, "Also print the graph, one node per line, with inferred types");
    sub->add_flag(
        "--optimized", *optimized,
        "Show the graph after the optimization passes (as backend cpu runs it), with each pass's node counts, and "
        "which convolutions and matrix products --precision bf16 keeps in fp32");
    return {sub, [=]() -> Status {
                FOVEA_ASSIGN(auto bound, parse_shapes(*shapes));
                SessionOptions options;
                options.input_shapes = bound;
                if (*optimized) options.backend = "cpu";  // optimizing backends run the passes on load
                FOVEA_ASSIGN(auto session, Session::load(*model, options));
                const ir::GraphStats stats = ir::compute_stats(session->graph());
                std::printf("model: %s\n", model->c_str());
                if (*optimized) FOVEA_TRY(print_pass_reports(*model, session->graph()));
                for (const auto& d : session->inputs())
                    std::printf("input  %s: %s\n", d.name.c_str(), desc_text(d).c_str());
                const auto& graph_outputs = session->graph().outputs;
                for (size_t i = 0; i < graph_outputs.size(); ++i) {
                    const ir::Value& v = *graph_outputs[i];
                    std::printf("output %s: %s", v.name.c_str(), desc_text(session->outputs()[i]).c_str());
                    if (!bound.empty())
                        std::printf(" (at the given shapes: %s)", v.shape ? shape_to_string(*v.shape).c_str() : "[*]");
                    std::printf("\n");
                }
                int nodes = 0;
                for (const auto& [op, n] : stats.op_counts) nodes += n;
                std::printf("nodes: %d\nops:\n", nodes);
                for (const auto& [op, n] : stats.op_counts) std::printf("  %-24s %d\n", op.c_str(), n);
                std::printf("parameters: %s (%s bytes)\n", with_units(static_cast<double>(stats.parameters)).c_str(),
                            with_units(static_cast<double>(stats.parameter_bytes)).c_str());
                if (stats.macs_complete)
                    std::printf("MACs: %s\n", with_units(static_cast<double>(stats.macs)).c_str());
                else
                    std::printf("MACs: unknown until every dynamic input dim is bound (use --shape NAME=DIMS)\n");
                if (*optimized) print_bf16_plan(session->graph(), *graph);
                if (*graph) std::printf("\n%s", session->graph().to_text().c_str());
                return Status::ok();
            }};
}

}  // namespace fovea::cli
