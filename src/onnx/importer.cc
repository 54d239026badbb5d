#include "onnx/importer.h"

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "ops/infer_graph.h"

namespace fovea::onnx {

namespace {

namespace pb = ::onnx;
namespace fs = std::filesystem;

// One buffer of the file's size (a stringstream grew by doubling and then copied: up to 3x the file at once).
Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return io_error("cannot open '" + path + "'");
    const std::streamoff size = in.tellg();
    if (size < 0) return io_error("failed reading '" + path + "'");
    std::string bytes(static_cast<size_t>(size), '\0');
    in.seekg(0);
    if (size > 0 && !in.read(bytes.data(), size)) return io_error("failed reading '" + path + "'");
    return bytes;
}

Result<DType> dtype_from_onnx(int32_t t) {
    switch (t) {
        case pb::TensorProto::FLOAT:
            return DType::kFloat32;
        case pb::TensorProto::DOUBLE:
            return DType::kFloat64;
        case pb::TensorProto::FLOAT16:
            return DType::kFloat16;
        case pb::TensorProto::BFLOAT16:
            return DType::kBFloat16;
        case pb::TensorProto::INT8:
            return DType::kInt8;
        case pb::TensorProto::UINT8:
            return DType::kUInt8;
        case pb::TensorProto::INT32:
            return DType::kInt32;
        case pb::TensorProto::INT64:
            return DType::kInt64;
        case pb::TensorProto::BOOL:
            return DType::kBool;
        default:
            break;
    }
    const std::string& name = pb::TensorProto::DataType_IsValid(t) ? pb::TensorProto::DataType_Name(t) : "?";
    return unsupported("tensor element type " + name + " (" + std::to_string(t) + ") is not supported");
}

// Copies the typed repeated field of a TensorProto into `t`, converting each element to T.
template <typename T, typename Field>
Status copy_typed(const Field& field, Tensor& t, const std::string& what) {
    if (field.size() != t.numel())
        return invalid_argument(what + ": holds " + std::to_string(field.size()) + " values, shape " +
                                shape_to_string(t.shape()) + " needs " + std::to_string(t.numel()));
    T* out = static_cast<T*>(t.raw_data());
    for (int i = 0; i < field.size(); ++i) {
        if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
            out[i].bits = static_cast<uint16_t>(field.Get(i));  // 16-bit floats travel as raw bits in int32_data
        } else {
            out[i] = static_cast<T>(field.Get(i));
        }
    }
    return Status::ok();
}

Result<std::string> read_external(const pb::TensorProto& proto, const std::string& base_dir, const std::string& what) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : proto.external_data()) {
        try {
            if (kv.key() == "location") location = kv.value();
            if (kv.key() == "offset") offset = std::stoll(kv.value());
            if (kv.key() == "length") length = std::stoll(kv.value());
        } catch (const std::exception&) {
            return invalid_argument(what + ": bad external data " + kv.key() + " '" + kv.value() + "'");
        }
    }
    const fs::path rel(location);
    if (location.empty() || rel.is_absolute() ||
        std::any_of(rel.begin(), rel.end(), [](const fs::path& part) { return part == ".."; }))
        return invalid_argument(what + ": external data location '" + location +
                                "' must be a relative path inside the model's folder");
    const std::string path = (fs::path(base_dir) / rel).string();
    FOVEA_ASSIGN(std::string bytes, read_file(path));
    if (offset < 0 || static_cast<size_t>(offset) > bytes.size() ||
        (length >= 0 && static_cast<size_t>(offset + length) > bytes.size()))
        return invalid_argument(what + ": external data range [" + std::to_string(offset) + ", +" +
                                std::to_string(length) + ") is outside '" + path + "' (" +
                                std::to_string(bytes.size()) + " bytes)");
    return bytes.substr(static_cast<size_t>(offset), length < 0 ? std::string::npos : static_cast<size_t>(length));
}

Result<Tensor> tensor_from_proto(const pb::TensorProto& proto, const std::string& base_dir) {
    const std::string what = "tensor '" + proto.name() + "'";
    if (proto.has_segment()) return unsupported(what + ": segmented tensors are not supported");
    FOVEA_ASSIGN(DType dtype, dtype_from_onnx(proto.data_type()));
    Shape shape(proto.dims().begin(), proto.dims().end());
    for (int64_t d : shape)
        if (d < 0) return invalid_argument(what + ": negative dimension in " + shape_to_string(shape));
    Tensor t(dtype, shape);
    std::string external;
    const std::string* raw = proto.has_raw_data() ? &proto.raw_data() : nullptr;
    if (proto.data_location() == pb::TensorProto::EXTERNAL) {
        FOVEA_ASSIGN(external, read_external(proto, base_dir, what));
        raw = &external;
    }
    if (raw) {
        if (raw->size() != t.nbytes())
            return invalid_argument(what + ": has " + std::to_string(raw->size()) + " bytes of data, " + t.describe() +
                                    " needs " + std::to_string(t.nbytes()));
        if (!raw->empty()) std::memcpy(t.raw_data(), raw->data(), raw->size());
        return t;
    }
    Status s = visit_dtype(dtype, [&]<typename T>() -> Status {
        if constexpr (std::is_same_v<T, float>)
            return copy_typed<T>(proto.float_data(), t, what);
        else if constexpr (std::is_same_v<T, double>)
            return copy_typed<T>(proto.double_data(), t, what);
        else if constexpr (std::is_same_v<T, int64_t>)
            return copy_typed<T>(proto.int64_data(), t, what);
        else
            return copy_typed<T>(proto.int32_data(), t, what);
    });
    FOVEA_TRY(s);
    return t;
}

void set_type_from_proto(const pb::ValueInfoProto& info, ir::Value& v) {
    if (!info.type().has_tensor_type()) return;
    const auto& tt = info.type().tensor_type();
    if (auto dt = dtype_from_onnx(tt.elem_type()); dt.is_ok()) {
        v.dtype = dt.value();
        v.has_type = true;
    }
    if (!tt.has_shape()) return;
    Shape shape;
    std::vector<std::string> params;
    for (const auto& d : tt.shape().dim()) {
        shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
        params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    v.shape = shape;
    v.dim_params = params;
}

Result<ir::Attribute> attribute_from_proto(const pb::AttributeProto& a, const std::string& base_dir) {
    using A = pb::AttributeProto;
    A::AttributeType type = a.type();
    if (type == A::UNDEFINED) {  // very old models leave the type out: deduce it from the field that is set
        if (a.has_f())
            type = A::FLOAT;
        else if (a.has_i())
            type = A::INT;
        else if (a.has_s())
            type = A::STRING;
        else if (a.has_t())
            type = A::TENSOR;
        else if (a.floats_size())
            type = A::FLOATS;
        else if (a.ints_size())
            type = A::INTS;
        else if (a.strings_size())
            type = A::STRINGS;
    }
    switch (type) {
        case A::FLOAT:
            return ir::Attribute(a.f());
        case A::INT:
            return ir::Attribute(static_cast<int64_t>(a.i()));
        case A::STRING:
            return ir::Attribute(a.s());
        case A::TENSOR: {
            FOVEA_ASSIGN(Tensor t, tensor_from_proto(a.t(), base_dir));
            return ir::Attribute(std::move(t));
        }
        case A::FLOATS:
            return ir::Attribute(std::vector<float>(a.floats().begin(), a.floats().end()));
        case A::INTS:
            return ir::Attribute(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
        case A::STRINGS:
            return ir::Attribute(std::vector<std::string>(a.strings().begin(), a.strings().end()));
        default:
            break;
    }
    return unsupported("attribute '" + a.name() + "' has type " +
                       (A::AttributeType_IsValid(type) ? A::AttributeType_Name(type) : std::to_string(type)) +
                       ", which is not supported (subgraphs and sparse tensors are not)");
}

// A Constant node's value as a tensor.
Result<Tensor> constant_value(const ir::Node& node) {
    if (const Tensor* t = node.attr_tensor("value")) return *t;
    if (node.has_attr("value_float")) return Tensor::scalar<float>(node.attr_float("value_float", 0));
    if (node.has_attr("value_int")) return Tensor::scalar<int64_t>(node.attr_int("value_int", 0));
    if (node.has_attr("value_floats")) {
        auto v = node.attr_floats("value_floats");
        return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
    }
    if (node.has_attr("value_ints")) {
        auto v = node.attr_ints("value_ints");
        return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    }
    return unsupported(node.describe() + ": only tensor, float(s) and int(s) constants are supported");
}

class Importer {
  public:
    Importer(ir::Graph& graph, std::string base_dir) : graph_(graph), base_dir_(std::move(base_dir)) {}

    // Consumes the model's initializers: each one's data is freed once it is in the graph, so that the weights are
    // not held twice (protobuf's copy and ours) while the graph is built.
    Status run(pb::ModelProto& model) {
        if (!model.has_graph()) return invalid_argument("model has no graph (empty or not an ONNX model)");
        int opset = -1;
        for (const auto& o : model.opset_import()) {
            if (o.domain().empty() || o.domain() == "ai.onnx")
                opset = static_cast<int>(o.version());
            else
                domain_opsets_[o.domain()] = static_cast<int>(o.version());
        }
        if (opset < 0 && model.opset_import_size() == 0) opset = 1;  // pre-opset models
        if (opset < 0) return unsupported("model imports no default-domain (ai.onnx) opset");
        if (opset < kMinOpset || opset > kMaxOpset)
            return unsupported("model imports default-domain opset " + std::to_string(opset) + "; fovea supports " +
                               std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset));
        opset_ = opset;
        pb::GraphProto& g = *model.mutable_graph();
        graph_.name = g.name();
        FOVEA_TRY(add_initializers(g));
        FOVEA_TRY(add_inputs(g));
        FOVEA_TRY(add_nodes(g));
        for (const auto& out : g.output()) {
            ir::Value* v = graph_.find_value(out.name());
            if (!v) return invalid_argument("graph output '" + out.name() + "' is never produced");
            if (!v->has_type) set_type_from_proto(out, *v);
            graph_.outputs.push_back(v);
        }
        FOVEA_TRY(graph_.sort());
        FOVEA_TRY(graph_.verify());
        for (const auto& node : graph_.nodes()) {
            FOVEA_TRY(rewrite_legacy(*node));
            FOVEA_TRY(ops::infer_node(*node));
        }
        return Status::ok();
    }

  private:
    Status add_initializers(pb::GraphProto& g) {
        if (g.sparse_initializer_size()) return unsupported("sparse initializers are not supported");
        for (pb::TensorProto& init : *g.mutable_initializer()) {
            if (graph_.find_value(init.name()))
                return invalid_argument("initializer '" + init.name() + "' is defined twice");
            FOVEA_ASSIGN(Tensor t, tensor_from_proto(init, base_dir_));
            graph_.add_value(init.name())->set_initializer(std::move(t));
            pb::TensorProto released;
            init.Swap(&released);  // nothing reads the proto's initializers again; their data is freed here
        }
        return Status::ok();
    }

    Status add_inputs(const pb::GraphProto& g) {
        for (const auto& in : g.input()) {
            if (ir::Value* init = graph_.find_value(in.name()); init && init->is_initializer)
                continue;  // IR < 4 lists them
            if (graph_.find_value(in.name()))
                return invalid_argument("graph input '" + in.name() + "' is defined twice");
            ir::Value* v = graph_.add_value(in.name());
            set_type_from_proto(in, *v);
            if (!in.type().has_tensor_type())
                return unsupported("graph input '" + in.name() +
                                   "' is not a tensor (sequences, maps and optionals are not supported)");
            if (!v->has_type) {
                const auto dt = dtype_from_onnx(in.type().tensor_type().elem_type());
                return unsupported("graph input '" + in.name() + "': " + dt.status().message());
            }
            graph_.inputs.push_back(v);
        }
        return Status::ok();
    }

    Status add_nodes(const pb::GraphProto& g) {
        // First define every node output, so that inputs may refer to nodes listed later (sorted afterwards).
        std::vector<ir::Node*> nodes;
        for (int i = 0; i < g.node_size(); ++i) {
            const pb::NodeProto& np = g.node(i);
            ir::Node* node =
                graph_.add_node(np.op_type(), np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name());
            node->domain = np.domain() == "ai.onnx" ? "" : np.domain();
            node->opset = node->domain.empty()                 ? opset_
                          : domain_opsets_.count(node->domain) ? domain_opsets_[node->domain]
                                                               : 0;
            FOVEA_TRY(check_attribute_names(*node, np));
            for (const auto& a : np.attribute()) {
                auto attr = attribute_from_proto(a, base_dir_);
                if (!attr.is_ok()) return attr.status().with_context(node->describe());
                node->attrs[a.name()] = std::move(attr).value();
            }
            for (const auto& name : np.output()) {
                if (name.empty()) {
                    node->outputs.push_back(nullptr);
                    continue;
                }
                if (graph_.find_value(name))
                    return invalid_argument(node->describe() + ": output '" + name + "' is already defined elsewhere");
                ir::Value* v = graph_.add_value(name);
                v->producer = node;
                node->outputs.push_back(v);
            }
            nodes.push_back(node);
        }
        for (int i = 0; i < g.node_size(); ++i) {
            ir::Node* node = nodes[static_cast<size_t>(i)];
            for (const auto& name : g.node(i).input()) {
                if (name.empty()) {
                    node->inputs.push_back(nullptr);
                    continue;
                }
                ir::Value* v = graph_.find_value(name);
                if (!v)
                    return invalid_argument(node->describe() + ": input '" + name +
                                            "' is not defined anywhere in the graph");
                node->inputs.push_back(v);
            }
            if (node->domain.empty() && node->op_type == "Constant") {
                if (node->outputs.size() != 1 || !node->outputs[0])
                    return invalid_argument(node->describe() + ": needs one output");
                auto value = constant_value(*node);
                if (!value.is_ok()) return value.status();
                node->outputs[0]->set_initializer(std::move(value).value());
                node->outputs[0]->producer = nullptr;
            }
        }
        graph_.remove_nodes_if([](const ir::Node& n) { return n.domain.empty() && n.op_type == "Constant"; });
        return Status::ok();
    }

    // Attribute names must exist in the op's ONNX schema at the model's opset, as ONNX Runtime also insists:
    // a misspelt or foreign attribute would otherwise be silently ignored.
    static Status check_attribute_names(const ir::Node& node, const pb::NodeProto& np) {
        if (!node.domain.empty()) return Status::ok();
        const pb::OpSchema* schema = pb::OpSchemaRegistry::Schema(node.op_type, node.opset, "");
        if (!schema) return Status::ok();  // unknown ops are reported by inference, with the same context
        for (const auto& a : np.attribute())
            if (!schema->attributes().count(a.name()))
                return unsupported(node.describe() + ": attribute '" + a.name() + "' is not defined for " +
                                   node.op_type + "-" + std::to_string(schema->since_version()));
        return Status::ok();
    }

    // Adds a constant input at position `index` (omitted inputs before it become nullptr).
    void set_const_input(ir::Node& node, size_t index, Tensor t) {
        ir::Value* v = graph_.add_value(node.name + "/" + std::to_string(index) + "_from_attribute");
        v->set_initializer(std::move(t));
        if (node.inputs.size() <= index) node.inputs.resize(index + 1, nullptr);
        node.inputs[index] = v;
    }

    void ints_attr_to_input(ir::Node& node, const std::string& key, size_t index) {
        if (!node.has_attr(key)) return;
        auto v = node.attr_ints(key);
        set_const_input(node, index, Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
        node.attrs.erase(key);
    }

    // A scalar of the first input's dtype, for old attributes that became same-typed inputs.
    Tensor scalar_like_input(const ir::Node& node, float value) {
        const ir::Value* x = node.input(0);
        const DType dt = x && x->has_type ? x->dtype : DType::kFloat32;
        Tensor t(dt, {});
        visit_dtype(dt, [&]<typename T>() { t.data<T>()[0] = static_cast<T>(value); });
        return t;
    }

    // Older opsets passed some operands as attributes; kernels see only the modern input form.
    Status rewrite_legacy(ir::Node& node) {
        if (!node.domain.empty()) return Status::ok();
        const std::string& op = node.op_type;
        const int v = node.opset;
        if (op == "Slice" && v < 10) {
            for (const char* key : {"starts", "ends"})
                if (!node.has_attr(key)) return invalid_argument(node.describe() + ": missing attribute '" + key + "'");
            ints_attr_to_input(node, "starts", 1);
            ints_attr_to_input(node, "ends", 2);
            ints_attr_to_input(node, "axes", 3);
        } else if (op == "Pad" && v < 11) {
            ints_attr_to_input(node, "pads", 1);
            set_const_input(node, 2, scalar_like_input(node, node.attr_float("value", 0.0f)));
            node.attrs.erase("value");
        } else if (op == "Clip" && v < 11) {
            if (node.has_attr("min")) set_const_input(node, 1, scalar_like_input(node, node.attr_float("min", 0)));
            if (node.has_attr("max")) set_const_input(node, 2, scalar_like_input(node, node.attr_float("max", 0)));
            node.attrs.erase("min");
            node.attrs.erase("max");
        } else if ((op == "Split" || op == "Squeeze" || op == "Unsqueeze") && v < 13) {
            ints_attr_to_input(node, op == "Split" ? "split" : "axes", 1);
        } else if (op.rfind("Reduce", 0) == 0 && !(op == "ReduceSum" && v >= 13)) {
            ints_attr_to_input(node, "axes", 1);
        } else if (op == "Reshape" && v < 5) {
            ints_attr_to_input(node, "shape", 1);
        } else if (op == "Concat" && v < 4 && !node.has_attr("axis")) {
            node.attrs["axis"] = int64_t{1};  // opset 1-3 default
        } else if (op == "Upsample" && node.has_attr("scales")) {
            auto s = node.attr_floats("scales");
            set_const_input(node, 1, Tensor::from_vector<float>({static_cast<int64_t>(s.size())}, s));
            node.attrs.erase("scales");
        }
        return Status::ok();
    }

    ir::Graph& graph_;
    std::string base_dir_;
    int opset_ = 0;
    std::map<std::string, int> domain_opsets_;
};

}  // namespace

namespace {

Status not_a_model(const std::string& what) {
    return invalid_argument(what + ": not a valid ONNX model (protobuf parse failed: malformed or truncated file)");
}

Result<std::unique_ptr<ir::Graph>> import_model(pb::ModelProto& model, const std::string& base_dir,
                                                const std::string& what) {
    auto graph = std::make_unique<ir::Graph>();
    Importer importer(*graph, base_dir);
    Status s = importer.run(model);
    if (!s.is_ok()) return s.with_context(what);
    return graph;
}

}  // namespace

Result<std::unique_ptr<ir::Graph>> import_bytes(std::span<const std::byte> bytes, const std::string& base_dir,
                                                const std::string& what) {
    if (bytes.empty()) return invalid_argument(what + ": empty file, not an ONNX model");
    pb::ModelProto model;
    if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
        !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        return not_a_model(what);
    return import_model(model, base_dir, what);
}

// Parsed from the stream: the file's bytes are never all in memory next to the parsed model (and then the graph).
Result<std::unique_ptr<ir::Graph>> import_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return io_error("cannot open '" + path + "'");
    const std::streamoff size = in.tellg();
    if (size < 0) return io_error("failed reading '" + path + "'");
    if (size == 0) return invalid_argument(path + ": empty file, not an ONNX model");
    if (size > INT32_MAX) return not_a_model(path);
    in.seekg(0);
    pb::ModelProto model;
    if (!model.ParseFromIstream(&in)) {
        if (in.bad()) return io_error("failed reading '" + path + "'");
        return not_a_model(path);
    }
    const std::string dir = fs::path(path).parent_path().string();
    return import_model(model, dir.empty() ? "." : dir, path);
}

Result<Tensor> read_tensor_file(const std::string& path) {
    FOVEA_ASSIGN(std::string bytes, read_file(path));
    pb::TensorProto proto;
    if (!proto.ParseFromString(bytes)) return invalid_argument(path + ": not a valid TensorProto");
    auto t = tensor_from_proto(proto, fs::path(path).parent_path().string());
    if (!t.is_ok()) return t.status().with_context(path);
    return t;
}

}  // namespace fovea::onnx
