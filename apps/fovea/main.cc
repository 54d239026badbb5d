// fovea: the command-line tool. Errors print one line on stderr and exit with code 1.
#include <cstdio>
#include <exception>

#include "commands.h"

int main(int argc, char** argv) {
    CLI::App app{"fovea: real-time vision AI at the edge"};
    app.require_subcommand(1);
    app.set_version_flag("--version", fovea::cli::build_description());
    const fovea::cli::Command commands[] = {
        fovea::cli::add_inspect(app),
        fovea::cli::add_infer(app),
        fovea::cli::add_bench(app),
        fovea::cli::add_run(app),
        fovea::cli::add_validate(app),
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
