#include "fovea/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <set>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/ref/ref_backend.h"
#include "ir/graph.h"
#include "ir/passes/passes.h"
#include "onnx/importer.h"
#include "ops/infer_graph.h"
#include "runtime/memory_plan.h"

namespace fovea {

namespace {

TensorDesc describe_value(const ir::Value& v) {
    TensorDesc d;
    d.name = v.name;
    d.dtype = v.dtype;
    if (v.shape) d.shape = *v.shape;
    d.dim_params = v.dim_params;
    return d;
}

Result<std::unique_ptr<runtime::Backend>> make_backend(const SessionOptions& options) {
    runtime::BackendOptions backend_options;
    backend_options.threads = options.threads;
    backend_options.precision = options.precision;
    backend_options.stream = options.stream;
    if (options.precision != "fp32" && options.precision != "bf16" && options.precision != "fp16" &&
        options.precision != "tf32")
        return invalid_argument("precision '" + options.precision + "' is not one of fp32, tf32, fp16, bf16");
    if (options.backend == "ref") {
        if (options.precision != "fp32") return unsupported("the reference backend computes in fp32 only");
        return runtime::make_ref_backend();
    }
    if (options.backend == "cpu") {
        if (options.precision != "fp32" && options.precision != "bf16")
            return unsupported("the cpu backend computes in fp32 or bf16, not " + options.precision);
        return cpu::make_cpu_backend(backend_options);
    }
    if (options.backend == "cuda") return cuda::make_cuda_backend(backend_options);
    std::string available;
    for (const std::string& b : available_backends()) available += (available.empty() ? "" : ", ") + b;
    return unsupported("backend '" + options.backend + "' is not available (available: " + available + ")");
}

}  // namespace

std::vector<std::string> available_backends() {
    std::vector<std::string> backends = {"ref", "cpu"};
    if (cuda::cuda_usable().is_ok()) backends.push_back("cuda");
    return backends;
}

Session::~Session() {
    if (!profiling_ || profiled_runs_ == 0) return;
    std::vector<std::pair<std::string, OpTime>> rows(profile_.begin(), profile_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
    double total = 0;
    for (const auto& [key, t] : rows) total += t.us;
    const double runs = static_cast<double>(profiled_runs_);
    std::fprintf(stderr, "fovea profile: %lld runs, %.3f ms per run in kernels\n%-32s %8s %12s %7s\n",
                 static_cast<long long>(profiled_runs_), total / runs / 1000, "op (backend)", "calls/run", "ms/run",
                 "share");
    for (const auto& [key, t] : rows)
        std::fprintf(stderr, "%-32s %8.1f %12.3f %6.1f%%\n", key.c_str(), static_cast<double>(t.calls) / runs,
                     t.us / runs / 1000, 100 * t.us / std::max(total, 1e-9));
}

Result<std::unique_ptr<Session>> Session::load(const std::string& path, const SessionOptions& options) {
    try {
        FOVEA_TRY(make_backend(options).status());
        FOVEA_ASSIGN(auto graph, onnx::import_file(path));
        return create(std::move(graph), options);
    } catch (const std::exception& e) {
        return internal_error("loading '" + path + "': " + e.what());
    }
}

Result<std::unique_ptr<Session>> Session::load_from_memory(std::span<const std::byte> bytes,
                                                           const SessionOptions& options, const std::string& base_dir) {
    try {
        FOVEA_TRY(make_backend(options).status());
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
    FOVEA_ASSIGN(s->backend_, make_backend(options));
    s->ref_backend_ = runtime::make_ref_backend();
    const char* profile = std::getenv("FOVEA_PROFILE");
    s->profiling_ = profile && std::string(profile) != "0";
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
    // Shape-independent rewrites happen once; the reference backend runs the model as given, being the oracle.
    if (options.backend != "ref")
        FOVEA_TRY(ir::passes::optimize(*s->graph_, options.backend, options.precision).status());
    FOVEA_TRY(s->bind(options.input_shapes));
    return s;
}

Status Session::bind(const std::map<std::string, Shape>& shapes) {
    bool all_known = true;
    for (size_t i = 0; i < graph_->inputs.size(); ++i) {
        ir::Value* in = graph_->inputs[i];
        in->shape = declared_shapes_[i];
        auto it = shapes.find(in->name);
        if (it != shapes.end()) {
            const Shape& s = it->second;
            if (const auto& declared = declared_shapes_[i]) {
                bool fits = declared->size() == s.size();
                for (size_t d = 0; fits && d < s.size(); ++d) fits = (*declared)[d] < 0 || (*declared)[d] == s[d];
                if (!fits)
                    return invalid_argument("input '" + in->name + "' has shape " + shape_to_string(*declared) +
                                            ", got " + shape_to_string(s));
            }
            in->shape = s;
        }
        all_known = all_known && in->shape_known();
    }
    for (const auto& v : graph_->values())
        if (!v->is_initializer) v->constant.reset();
    const ops::Evaluator evaluate = [](const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                       std::vector<Tensor>& outputs) { return ref::run_node(node, inputs, outputs); };
    steps_.clear();
    kernels_.clear();
    engine_.reset();
    arena_.reset();
    compiled_ = false;
    FOVEA_TRY(ops::infer_graph(*graph_, &evaluate));
    // What was bound, every input named when all are known: a run at these shapes then does not bind (and build
    // the engine) again.
    bound_ = shapes;
    if (all_known)
        for (const ir::Value* in : graph_->inputs) bound_[in->name] = *in->shape;
    // Kernels compile for concrete shapes only; with dynamic dims still open, the first run binds them.
    return all_known ? compile() : Status::ok();
}

Status Session::compile() {
    const auto& nodes = graph_->nodes();
    slot_of_.clear();
    auto slot = [&](const ir::Value* v) -> int {
        if (!v) return -1;
        auto [it, added] = slot_of_.emplace(v, static_cast<int>(slot_of_.size()));
        return it->second;
    };
    for (const ir::Value* v : graph_->inputs) slot(v);

    std::vector<bool> runs(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) runs[i] = !ir::passes::is_folded(*nodes[i]);
    FOVEA_ASSIGN(engine_, backend_->compile_graph(*graph_, runs));
    if (engine_) {
        engine_nodes_ = static_cast<int>(std::count(runs.begin(), runs.end(), true));
        arena_bytes_ = engine_->arena_bytes();
        unplanned_bytes_ = engine_->unplanned_bytes();
        compiled_ = true;
        return Status::ok();
    }
    FOVEA_TRY(backend_->prepare(*graph_));
    // Kernels first: the memory plan lets outputs take over the inputs their kernels can overwrite.
    runtime::PlanOptions plan_options;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (!runs[i]) continue;
        const ir::Node& node = *nodes[i];
        FOVEA_ASSIGN(auto kernel, backend_->compile(node));
        Step step;
        step.node = &node;
        step.backend = std::string(backend_->name());
        if (!kernel) {
            FOVEA_ASSIGN(kernel, ref_backend_->compile(node));
            step.backend = "ref";
        }
        const int in_place = kernel->in_place_input();
        if (in_place >= 0 && static_cast<size_t>(in_place) < node.inputs.size() && node.inputs[in_place] &&
            !node.outputs.empty() && node.outputs[0])
            plan_options.in_place[node.outputs[0]] = node.inputs[in_place];
        step.kernel = kernel.get();
        kernels_.push_back(std::move(kernel));
        if (profiling_) step.timing = &profile_[node.op_type + " (" + step.backend + ")"];
        steps_.push_back(std::move(step));
    }
    const runtime::MemoryPlan plan = runtime::plan_memory(*graph_, runs, plan_options);
    arena_bytes_ = plan.arena_bytes;
    unplanned_bytes_ = plan.unplanned_bytes;
    auto* arena = static_cast<std::byte*>(::operator new(std::max<size_t>(plan.arena_bytes, 64), std::align_val_t(64)));
    arena_ = std::shared_ptr<std::byte>(arena, [](std::byte* p) { ::operator delete(p, std::align_val_t(64)); });

    std::map<int, size_t> last_step;
    std::map<int, std::pair<size_t, size_t>> unplanned_producer;  // slot -> (step, output) for per-run buffers
    for (size_t index = 0; index < steps_.size(); ++index) {
        Step& step = steps_[index];
        const ir::Node& node = *step.node;
        for (const ir::Value* v : node.inputs) {
            step.inputs.push_back(slot(v));
            if (v && !v->constant) last_step[step.inputs.back()] = index;
        }
        for (const ir::Value* v : node.outputs) {
            step.outputs.push_back(slot(v));
            auto planned = v ? plan.offsets.find(v) : plan.offsets.end();
            if (v && planned == plan.offsets.end())
                unplanned_producer[step.outputs.back()] = {index, step.outputs.size() - 1};
            step.planned.push_back(planned != plan.offsets.end());
            step.buffers.push_back(
                planned != plan.offsets.end() ? Tensor::view(arena_, planned->second, v->dtype, *v->shape) : Tensor());
        }
    }
    std::set<int> keep;
    for (const ir::Value* v : graph_->outputs) keep.insert(slot(v));
    for (const auto& [s, i] : last_step)
        if (!keep.count(s) && unplanned_producer.count(s)) steps_[i].release.push_back(unplanned_producer[s]);
    slots_.assign(slot_of_.size(), nullptr);
    for (const auto& [v, s] : slot_of_)
        if (v->constant) slots_[static_cast<size_t>(s)] = &*v->constant;
    compiled_ = true;
    return Status::ok();
}

std::map<std::string, int> Session::nodes_per_backend() const {
    std::map<std::string, int> counts;
    if (engine_) {
        counts[std::string(backend_->name())] = engine_nodes_ - engine_->host_nodes();
        if (engine_->host_nodes() > 0) counts["ref"] = engine_->host_nodes();
    }
    for (const Step& step : steps_) ++counts[step.backend];
    return counts;
}

Result<std::vector<DeviceTensor>> Session::device_inputs(const std::map<std::string, Shape>& shapes) {
    std::map<std::string, Shape> merged = bound_;
    for (const auto& [name, shape] : shapes) {
        const bool known = std::any_of(graph_->inputs.begin(), graph_->inputs.end(),
                                       [&](const ir::Value* in) { return in->name == name; });
        if (!known) return not_found("'" + name + "' is not an input of the model");
        merged[name] = shape;
    }
    if (merged != bound_ || !compiled_) FOVEA_TRY(bind(merged));
    if (!compiled_) return invalid_argument("device_inputs: the model has inputs with unbound dynamic dims");
    if (!engine_) return unsupported("backend '" + options_.backend + "' has no device I/O");
    return engine_->device_inputs();
}

Result<std::vector<DeviceTensor>> Session::device_run() {
    if (!engine_) return unsupported("device_run: call device_inputs first, on a backend with device I/O");
    return engine_->device_run();
}

void* Session::device_stream() const {
    return engine_ ? engine_->device_stream() : nullptr;
}

Result<std::vector<Tensor>> Session::run(const std::map<std::string, Tensor>& inputs) {
    try {
        std::map<std::string, Shape> shapes;
        for (size_t i = 0; i < graph_->inputs.size(); ++i) {
            const ir::Value* in = graph_->inputs[i];
            auto it = inputs.find(in->name);
            if (it == inputs.end()) return invalid_argument("missing input '" + in->name + "'");
            if (it->second.dtype() != inputs_[i].dtype)
                return invalid_argument("input '" + in->name + "' must be " + dtype_name(inputs_[i].dtype) + ", got " +
                                        it->second.describe());
            shapes[in->name] = it->second.shape();
        }
        if (inputs.size() != graph_->inputs.size())
            for (const auto& [name, t] : inputs)
                if (!shapes.count(name)) return not_found("'" + name + "' is not an input of the model");
        if (shapes != bound_ || !compiled_) FOVEA_TRY(bind(shapes));
        if (engine_) {
            std::vector<const Tensor*> ordered;
            for (const ir::Value* in : graph_->inputs) ordered.push_back(&inputs.at(in->name));
            return engine_->run(ordered);
        }
        for (const ir::Value* in : graph_->inputs) slots_[static_cast<size_t>(slot_of_.at(in))] = &inputs.at(in->name);

        std::vector<const Tensor*> args;
        for (Step& step : steps_) {
            args.clear();
            for (int s : step.inputs) args.push_back(s < 0 ? nullptr : slots_[static_cast<size_t>(s)]);
            for (size_t o = 0; o < step.outputs.size(); ++o) {
                const ir::Value* v = step.node->outputs[o];
                if (step.planned[o] || !v) continue;
                // Unplanned outputs (graph outputs, unknown shapes) get buffers of their own: results outlive the
                // run. Last run's buffer is reused, zeroed like a new one, once the caller has let go of it: a fresh
                // allocation of a large output costs page faults on every run.
                Tensor& out = step.buffers[o];
                if (!v->shape_known())
                    out = Tensor();
                else if (out.sole_owner() && out.dtype() == v->dtype && out.shape() == *v->shape)
                    out.zero();
                else
                    out = Tensor(v->dtype, *v->shape);
            }
            const auto started =
                step.timing ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
            if (Status s = step.kernel->run(args, step.buffers); !s.is_ok()) return s;
            if (step.timing) {
                step.timing->us +=
                    std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
                ++step.timing->calls;
            }
            for (size_t o = 0; o < step.outputs.size(); ++o) {
                if (step.outputs[o] < 0) continue;
                if (!step.buffers[o].defined())
                    return internal_error(step.node->describe() + ": output " + std::to_string(o) +
                                          " was not produced");
                slots_[static_cast<size_t>(step.outputs[o])] = &step.buffers[o];
            }
            // Unplanned intermediates (dynamic shapes) are freed after their last use.
            for (const auto& [producer, o] : step.release) steps_[producer].buffers[o] = Tensor();
        }
        profiled_runs_ += profiling_;
        std::vector<Tensor> results;
        for (const ir::Value* v : graph_->outputs) {
            if (v->constant) {
                results.push_back(*v->constant);
                continue;
            }
            const Tensor* t = slots_[static_cast<size_t>(slot_of_.at(v))];
            if (!t) return internal_error("output '" + v->name + "' was not computed");
            results.push_back(*t);  // graph outputs are never planned: the caller shares the step's buffer
        }
        return results;
    } catch (const std::exception& e) {
        return internal_error(std::string("run failed: ") + e.what());
    }
}

}  // namespace fovea
