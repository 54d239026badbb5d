// `fovea infer MODEL --input NAME=FILE.npy ... --output-dir DIR`: one .npy per output, named after it.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "fovea/npy.h"
#include "fovea/session.h"

namespace fovea::cli {

namespace {

// Output names may hold '/', ':' and other characters a file name must not.
std::string safe_file_name(const std::string& name) {
    std::string s = name.empty() ? "output" : name;
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
    if (s == "." || s == "..") s = "_";
    return s;
}

}  // namespace

Command add_infer(CLI::App& app) {
    auto* sub = app.add_subcommand("infer", "Run a model on .npy inputs and write one .npy per output");
    struct Options {
        std::string model, output_dir = ".", backend = "ref", precision = "fp32";
        std::vector<std::string> inputs;
    };
    auto o = std::make_shared<Options>();
    sub->add_option("model", o->model, "ONNX model file")->required();
    sub->add_option("--input,-i", o->inputs, "NAME=FILE.npy (repeatable; one per model input)")->required();
    sub->add_option("--output-dir,-o", o->output_dir, "Folder for the outputs (created if missing)");
    sub->add_option("--backend,-b", o->backend, "ref, cpu or cuda");
    sub->add_option("--precision", o->precision, "fp32 or bf16 (cpu backend)");
    return {sub, [o]() -> Status {
                std::map<std::string, Tensor> inputs;
                for (const std::string& spec : o->inputs) {
                    const size_t eq = spec.find('=');
                    if (eq == std::string::npos || eq == 0)
                        return invalid_argument("--input '" + spec + "' must look like NAME=FILE.npy");
                    FOVEA_ASSIGN(Tensor t, read_npy(spec.substr(eq + 1)));
                    inputs[spec.substr(0, eq)] = std::move(t);
                }
                SessionOptions options;
                options.backend = o->backend;
                options.precision = o->precision;
                for (const auto& [name, t] : inputs) options.input_shapes[name] = t.shape();
                FOVEA_ASSIGN(auto session, Session::load(o->model, options));
                FOVEA_ASSIGN(auto outputs, session->run(inputs));
                std::error_code ec;
                std::filesystem::create_directories(o->output_dir, ec);
                if (ec) return io_error("cannot create '" + o->output_dir + "': " + ec.message());
                for (size_t i = 0; i < outputs.size(); ++i) {
                    const std::string path =
                        (std::filesystem::path(o->output_dir) / (safe_file_name(session->outputs()[i].name) + ".npy"))
                            .string();
                    FOVEA_TRY(write_npy(path, outputs[i]));
                    std::printf("%s: %s -> %s\n", session->outputs()[i].name.c_str(), outputs[i].describe().c_str(),
                                path.c_str());
                }
                return Status::ok();
            }};
}

}  // namespace fovea::cli
