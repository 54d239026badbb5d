// fovea: the command-line tool. Errors print one line on stderr and exit with code 1.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "commands.h"

namespace {

// A pipeline runs decoder threads next to oneDNN's OpenMP team. OpenMP threads that spin while waiting lose their
// core to a decoder and stall the whole team: inference measured 1.7x slower in the 16-stream demo. GNU OpenMP reads
// OMP_WAIT_POLICY only when it loads, so `fovea run` and `fovea eval` set it and start again (unless the user chose).
void prefer_passive_openmp_for_pipelines(int argc, char** argv) {
    if (argc < 2 || (std::strcmp(argv[1], "run") != 0 && std::strcmp(argv[1], "eval") != 0) ||
        std::getenv("OMP_WAIT_POLICY"))
        return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run on as we are
}

}  // namespace

int main(int argc, char** argv) {
    prefer_passive_openmp_for_pipelines(argc, argv);
    CLI::App app{"fovea: real-time vision AI at the edge"};
    app.require_subcommand(1);
    app.set_version_flag("--version", fovea::cli::build_description());
    const fovea::cli::Command commands[] = {
        fovea::cli::add_inspect(app),
        fovea::cli::add_infer(app),
        fovea::cli::add_bench(app),
        fovea::cli::add_run(app),
        fovea::cli::add_validate(app),
        fovea::cli::add_synth(app),
        fovea::cli::add_eval(app),
        fovea::cli::add_ocr(app),
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "fovea: error: %s (see fovea --help)\n", e.what());
        return 1;
    }
    for (const auto& command : commands) {
        if (!command.app->parsed()) continue;
        try {
            const fovea::Status s = command.run();
            if (s.is_ok()) return 0;
            std::fprintf(stderr, "fovea: error: %s\n", s.message().c_str());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "fovea: error: %s\n", e.what());
        }
        return 1;
    }
    return 1;
}
