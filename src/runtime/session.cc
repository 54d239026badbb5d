#include "fovea/session.h"

#include <exception>
#include <map>
#include <set>

#include "backends/ref/kernels.h"
#include "ir/graph.h"
#include "onnx/importer.h"
#include "ops/infer_graph.h"

namespace fovea {

namespace {

// Runs one node on the reference backend: infer exact output shapes from the actual inputs, allocate, run, check.
Status run_ref_node(const ir::Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) {
    const ref::RefKernel kernel = node.domain.empty() ? ref::find_kernel(node.op_type) : nullptr;
    if (!kernel) return unsupported(node.describe() + ": no reference kernel");
    std::vector<ops::TensorInfo> infos;
    for (const Tensor* t : inputs) {
        ops::TensorInfo info;
        if (t) {
            info.present = true;
            info.dtype = t->dtype();
            info.shape = t->shape();
            info.value = t;
        }
        infos.push_back(info);
    }
    ops::InferContext ictx{node, std::move(infos), {}};
    FOVEA_TRY(ops::find_infer(node.op_type)(ictx));
    outputs.assign(node.outputs.size(), Tensor());
    for (size_t i = 0; i < outputs.size() && i < ictx.outputs.size(); ++i)
        if (ictx.outputs[i].present && ictx.outputs[i].shape_known())
            outputs[i] = Tensor(ictx.outputs[i].dtype, *ictx.outputs[i].shape);
    ref::KernelContext kctx{node, inputs, outputs};
    FOVEA_TRY(kernel(kctx));
    for (size_t i = 0; i < outputs.size(); ++i) {
        if (!node.outputs[i]) continue;
        if (!outputs[i].defined())
            return internal_error(node.describe() + ": kernel left output " + std::to_string(i) + " unset");
        if (i < ictx.outputs.size() && outputs[i].dtype() != ictx.outputs[i].dtype)
            return internal_error(node.describe() + ": kernel produced " + outputs[i].describe() + ", inference said " +
                                  dtype_name(ictx.outputs[i].dtype));
    }
    return Status::ok();
}

TensorDesc describe_value(const ir::Value& v) {
    TensorDesc d;
    d.name = v.name;
    d.dtype = v.dtype;
    if (v.shape) d.shape = *v.shape;
    d.dim_params = v.dim_params;
    return d;
}

Status check_backend(const std::string& backend) {
    if (backend == "ref") return Status::ok();
    return unsupported("backend '" + backend + "' is not available (available: ref)");
}

}  // namespace

std::vector<std::string> available_backends() {
    return {"ref"};
}

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::load(const std::string& path, const SessionOptions& options) {
    try {
        FOVEA_TRY(check_backend(options.backend));
        FOVEA_ASSIGN(auto graph, onnx::import_file(path));
        return create(std::move(graph), options);
    } catch (const std::exception& e) {
        return internal_error("loading '" + path + "': " + e.what());
    }
}

Result<std::unique_ptr<Session>> Session::load_from_memory(std::span<const std::byte> bytes,
                                                           const SessionOptions& options, const std::string& base_dir) {
    try {
        FOVEA_TRY(check_backend(options.backend));
        FOVEA_ASSIGN(auto graph, onnx::import_bytes(bytes, base_dir, "model in memory"));
        return create(std::move(graph), options);
    } catch (const std::exception& e) {
        return internal_error(std::string("loading model from memory: ") + e.what());
    }
}

Result<std::unique_ptr<Session>> Session::create(std::unique_ptr<ir::Graph> graph, const SessionOptions& options) {
    std::unique_ptr<Session> s(new Session());
    s->graph_ = std::move(graph);
    s->options_ = options;
    for (const ir::Value* v : s->graph_->inputs) {
        s->inputs_.push_back(describe_value(*v));
        s->declared_shapes_.push_back(v->shape);
    }
    for (const ir::Value* v : s->graph_->outputs) s->outputs_.push_back(describe_value(*v));
    for (const auto& [name, shape] : options.input_shapes) {
        const ir::Value* v = s->graph_->find_value(name);
        if (std::find(s->graph_->inputs.begin(), s->graph_->inputs.end(), v) == s->graph_->inputs.end())
            return not_found("a shape is given for '" + name + "', which is not a model input");
    }
    FOVEA_TRY(s->bind(options.input_shapes));
    return s;
}

Status Session::bind(const std::map<std::string, Shape>& shapes) {
    for (size_t i = 0; i < graph_->inputs.size(); ++i) {
        ir::Value* in = graph_->inputs[i];
        in->shape = declared_shapes_[i];
        auto it = shapes.find(in->name);
        if (it == shapes.end()) continue;
        const Shape& s = it->second;
        if (const auto& declared = declared_shapes_[i]) {
            bool fits = declared->size() == s.size();
            for (size_t d = 0; fits && d < s.size(); ++d) fits = (*declared)[d] < 0 || (*declared)[d] == s[d];
            if (!fits)
                return invalid_argument("input '" + in->name + "' has shape " + shape_to_string(*declared) + ", got " +
                                        shape_to_string(s));
        }
        in->shape = s;
    }
    for (const auto& v : graph_->values())
        if (!v->is_initializer) v->constant.reset();
    const ops::Evaluator evaluate = run_ref_node;
    FOVEA_TRY(ops::infer_graph(*graph_, &evaluate));
    bound_ = shapes;
    return Status::ok();
}

Result<std::vector<Tensor>> Session::run(const std::map<std::string, Tensor>& inputs) {
    try {
        std::map<const ir::Value*, Tensor> env;
        std::map<std::string, Shape> shapes;
        for (size_t i = 0; i < graph_->inputs.size(); ++i) {
            const ir::Value* in = graph_->inputs[i];
            auto it = inputs.find(in->name);
            if (it == inputs.end()) return invalid_argument("missing input '" + in->name + "'");
            if (it->second.dtype() != inputs_[i].dtype)
                return invalid_argument("input '" + in->name + "' must be " + dtype_name(inputs_[i].dtype) + ", got " +
                                        it->second.describe());
            env[in] = it->second;
            shapes[in->name] = it->second.shape();
        }
        for (const auto& [name, t] : inputs)
            if (!graph_->find_value(name) || !env.count(graph_->find_value(name)))
                return not_found("'" + name + "' is not an input of the model");
        if (shapes != bound_) FOVEA_TRY(bind(shapes));

        // Free each intermediate after its last use, so peak memory follows liveness, not graph size.
        std::map<const ir::Value*, size_t> last_use;
        const auto& nodes = graph_->nodes();
        for (size_t i = 0; i < nodes.size(); ++i)
            for (const ir::Value* v : nodes[i]->inputs)
                if (v) last_use[v] = i;
        const std::set<const ir::Value*> outputs(graph_->outputs.begin(), graph_->outputs.end());

        for (size_t i = 0; i < nodes.size(); ++i) {
            const ir::Node& node = *nodes[i];
            bool folded = true;
            for (const ir::Value* out : node.outputs) folded = folded && (!out || out->constant);
            if (folded) continue;
            std::vector<const Tensor*> args;
            for (const ir::Value* v : node.inputs) {
                if (!v)
                    args.push_back(nullptr);
                else if (v->constant)
                    args.push_back(&*v->constant);
                else if (auto it = env.find(v); it != env.end())
                    args.push_back(&it->second);
                else
                    return internal_error(node.describe() + ": input '" + v->name + "' was not computed");
            }
            std::vector<Tensor> results;
            FOVEA_TRY(run_ref_node(node, args, results));
            for (size_t o = 0; o < node.outputs.size(); ++o)
                if (node.outputs[o]) env[node.outputs[o]] = std::move(results[o]);
            for (const ir::Value* v : node.inputs)
                if (v && last_use[v] == i && !outputs.count(v)) env.erase(v);
        }
        std::vector<Tensor> results;
        for (const ir::Value* v : graph_->outputs) {
            if (v->constant)
                results.push_back(*v->constant);
            else if (auto it = env.find(v); it != env.end())
                results.push_back(it->second);
            else
                return internal_error("output '" + v->name + "' was not computed");
        }
        return results;
    } catch (const std::exception& e) {
        return internal_error(std::string("run failed: ") + e.what());
    }
}

}  // namespace fovea
