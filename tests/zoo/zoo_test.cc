// The zoo: real models (scripts/make-zoo.sh builds the cache) run by every backend of available_backends(),
// compared with ONNX Runtime's outputs on the same inputs. One test per (model, batch) directory of the cache and
// backend (select with --gtest_filter, e.g. '*_cpu'):
//
//   $FOVEA_ZOO_DIR/<model>/model.onnx, <model>/b<N>/inputs/<input>.npy, <model>/b<N>/ort/<output>.npy
//
// Every output must match ONNX Runtime's dtype and shape exactly, and its values within a relative L2 error
// ||fovea - ort|| / ||ort|| below 1e-4 (integer and bool outputs: exactly). Each test prints one table row per
// output and, when $FOVEA_ZOO_REPORT names a file (docs/zoo.md is its home), merges its rows into that file.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "fovea/npy.h"
#include "fovea/session.h"

namespace fovea {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxRelativeL2 = 1e-4;

fs::path zoo_dir() {
    const char* env = std::getenv("FOVEA_ZOO_DIR");
    return env && *env ? fs::path(env) : fs::path(FOVEA_ZOO_DEFAULT_DIR);
}

struct ZooCase {
    std::string model;
    int batch = 0;
    fs::path dir;  // <zoo>/<model>/b<batch>
};

// gtest prints parameters in listings and failures; the default is a byte dump.
void PrintTo(const ZooCase& c, std::ostream* os) {
    *os << c.model << " b" << c.batch;
}

// Every <model>/b<N> directory next to a model.onnx, sorted by model then batch.
std::vector<ZooCase> find_cases() {
    std::vector<ZooCase> cases;
    std::error_code ec;
    const fs::path root = zoo_dir();
    if (!fs::is_directory(root, ec)) return cases;
    for (const auto& model_dir : fs::directory_iterator(root, ec)) {
        if (!fs::exists(model_dir.path() / "model.onnx", ec)) continue;
        for (const auto& batch_dir : fs::directory_iterator(model_dir.path(), ec)) {
            const std::string name = batch_dir.path().filename().string();
            if (!batch_dir.is_directory() || name.size() < 2 || name[0] != 'b') continue;
            const std::string digits = name.substr(1);
            if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
            cases.push_back({model_dir.path().filename().string(), std::stoi(digits), batch_dir.path()});
        }
    }
    std::sort(cases.begin(), cases.end(), [](const ZooCase& a, const ZooCase& b) {
        return std::tie(a.model, a.batch) < std::tie(b.model, b.batch);
    });
    return cases;
}

// The file name tools/zoo/ort_run.mjs gives a tensor: characters outside [A-Za-z0-9._-] become '_'.
std::string file_name_for(const std::string& tensor_name) {
    std::string out = tensor_name;
    for (char& c : out) {
        const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '-';
        if (!keep) c = '_';
    }
    return out + ".npy";
}

// ||actual - expected|| / ||expected||, accumulated in double; a NaN anywhere makes it NaN (and the check fail).
// An all-zero expected tensor has no scale, so the absolute norm of the difference stands in.
double relative_l2(const Tensor& actual, const Tensor& expected) {
    double diff = 0, ref = 0;
    const int64_t n = expected.numel();
    if (actual.dtype() == DType::kFloat32) {
        const float* a = actual.data<float>();
        const float* e = expected.data<float>();
        for (int64_t i = 0; i < n; ++i) {
            const double d = static_cast<double>(a[i]) - static_cast<double>(e[i]);
            diff += d * d;
            ref += static_cast<double>(e[i]) * static_cast<double>(e[i]);
        }
    } else {
        for (int64_t i = 0; i < n; ++i) {
            const double a = actual.element_as_double(i), e = expected.element_as_double(i);
            diff += (a - e) * (a - e);
            ref += e * e;
        }
    }
    return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

int64_t count_unequal(const Tensor& actual, const Tensor& expected) {
    int64_t bad = 0;
    for (int64_t i = 0; i < expected.numel(); ++i)
        if (actual.element_as_int64(i) != expected.element_as_int64(i)) ++bad;
    return bad;
}

struct Row {
    std::string model;
    int batch = 0;
    std::string backend;
    std::string output;
    std::string shape;
    std::string error;   // relative L2 (floats) or "exact" / "N differ" (integers), or "-"
    std::string result;  // "ok", "FAIL: why"
};

std::string markdown_cell(std::string s) {
    for (char& c : s)
        if (c == '|' || c == '\n') c = ' ';
    return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

std::string format_row(const Row& r) {
    return "| " + r.model + " | " + std::to_string(r.batch) + " | " + r.backend + " | " + markdown_cell(r.output) +
           " | " + r.shape + " | " + r.error + " | " + markdown_cell(r.result) + " |";
}

constexpr const char* kReportHeader =
    "# Zoo: fovea's backends vs ONNX Runtime\n"
    "\n"
    "Generated by `tests/zoo` (`fovea_zoo`, ctest label `zoo`): `scripts/make-zoo.sh`, then\n"
    "`FOVEA_ZOO_REPORT=$PWD/docs/zoo.md build/release/tests/zoo/fovea_zoo`; each (model, batch, backend)\n"
    "replaces its own rows. Models and inputs: `models/README.md`. Peer: ONNX Runtime 1.30.0 (onnxruntime-node, CPU "
    "EP)\n"
    "on the same inputs. rel L2 = ||fovea - ort|| / ||ort|| for float outputs (pass below 1e-4); integer outputs must\n"
    "be exact.\n"
    "\n"
    "| model | batch | backend | output | shape | rel L2 | result |\n"
    "|---|---|---|---|---|---|---|\n";

// Replaces this (model, batch, backend)'s rows of the markdown report and rewrites it sorted. Tests may run in parallel
// processes (ctest -j), so the read-modify-write happens under an exclusive lock on the file itself.
void merge_into_report(const std::string& path, const std::vector<Row>& rows) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        ADD_FAILURE() << "cannot open FOVEA_ZOO_REPORT file " << path;
        return;
    }
    ::flock(fd, LOCK_EX);
    std::string text;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));

    // Key rows by (model, batch, backend, output) so that each case owns its rows and the table stays sorted.
    using Key = std::tuple<std::string, int, std::string, std::string>;
    std::map<Key, std::string> table;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("| ", 0) != 0 || line.rfind("| model |", 0) == 0) continue;
        std::vector<std::string> cells;
        std::istringstream cols(line.substr(1));
        for (std::string cell; std::getline(cols, cell, '|');) {
            const size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
            cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
        }
        if (cells.size() < 7 || cells[1].empty() || !std::isdigit(static_cast<unsigned char>(cells[1][0]))) continue;
        const int batch = std::stoi(cells[1]);
        if (!rows.empty() && cells[0] == rows.front().model && batch == rows.front().batch &&
            cells[2] == rows.front().backend)
            continue;
        table[{cells[0], batch, cells[2], cells[3]}] = line;
    }
    for (const Row& r : rows) table[{r.model, r.batch, r.backend, markdown_cell(r.output)}] = format_row(r);

    std::string out = kReportHeader;
    for (const auto& [key, line] : table) out += line + "\n";
    const bool ok =
        ::ftruncate(fd, 0) == 0 && ::pwrite(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size());
    ::flock(fd, LOCK_UN);
    ::close(fd);
    if (!ok) ADD_FAILURE() << "cannot write FOVEA_ZOO_REPORT file " << path;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(ZooCache, is_built) {
    const auto cases = find_cases();
    ASSERT_FALSE(cases.empty()) << "no zoo cache at " << zoo_dir()
                                << " (no <model>/model.onnx with b<N>/ directories): run scripts/make-zoo.sh "
                                   "(or point FOVEA_ZOO_DIR at a built cache)";
    // make-zoo.sh writes the stamp last: without it the cache is half built and some cases may be missing.
    EXPECT_TRUE(fs::exists(zoo_dir() / ".stamp"))
        << zoo_dir() << " has no .stamp (interrupted build?): run scripts/make-zoo.sh";
    std::printf("zoo cache %s: %zu (model, batch) cases\n", zoo_dir().c_str(), cases.size());
}

class Zoo : public ::testing::TestWithParam<std::tuple<ZooCase, std::string>> {};

TEST_P(Zoo, matches_onnxruntime) {
    const auto& [c, backend] = GetParam();
    ASSERT_TRUE(fs::exists(c.dir / ".done"))
        << c.dir << " is incomplete (interrupted build?): run scripts/make-zoo.sh again";

    std::vector<Row> rows;
    auto fail_row = [&](const std::string& why) {
        rows.push_back({c.model, c.batch, backend, "-", "-", "-", "FAIL: " + why});
    };
    auto report = [&] {
        std::printf("| model | batch | backend | output | shape | rel L2 | result |\n");
        for (const Row& r : rows) std::printf("%s\n", format_row(r).c_str());
        if (const char* path = std::getenv("FOVEA_ZOO_REPORT"); path && *path) merge_into_report(path, rows);
    };

    const auto t_load = std::chrono::steady_clock::now();
    SessionOptions options;
    options.backend = backend;
    auto session = Session::load((c.dir.parent_path() / "model.onnx").string(), options);
    if (!session.is_ok()) {
        fail_row("load: " + session.status().to_string());
        report();
        FAIL() << c.model << ": " << session.status().to_string();
    }
    const double load_s = seconds_since(t_load);

    std::map<std::string, Tensor> inputs;
    for (const TensorDesc& in : (*session)->inputs()) {
        const fs::path file = c.dir / "inputs" / file_name_for(in.name);
        auto t = read_npy(file.string());
        ASSERT_TRUE(t.is_ok()) << "input '" << in.name << "': " << t.status().to_string();
        inputs.emplace(in.name, std::move(t).value());
    }

    const auto t_run = std::chrono::steady_clock::now();
    auto outputs = (*session)->run(inputs);
    const double run_s = seconds_since(t_run);
    std::printf("zoo %s b%d: load %.2f s, run %.2f s (%s)\n", c.model.c_str(), c.batch, load_s, run_s, backend.c_str());
    if (!outputs.is_ok()) {
        fail_row("run: " + outputs.status().to_string());
        report();
        FAIL() << c.model << " b" << c.batch << ": " << outputs.status().to_string();
    }

    const auto& descs = (*session)->outputs();
    ASSERT_EQ(outputs->size(), descs.size());
    size_t expected_files = 0;
    for (const auto& entry : fs::directory_iterator(c.dir / "ort"))
        if (entry.path().extension() == ".npy") ++expected_files;
    EXPECT_EQ(descs.size(), expected_files) << "fovea and ONNX Runtime disagree on the number of outputs";

    for (size_t i = 0; i < descs.size(); ++i) {
        const Tensor& actual = (*outputs)[i];
        Row row{c.model, c.batch, backend, descs[i].name, shape_to_string(actual.shape()), "-", "ok"};
        auto expected = read_npy((c.dir / "ort" / file_name_for(descs[i].name)).string());
        if (!expected.is_ok()) {
            row.result = "FAIL: no ONNX Runtime output: " + expected.status().to_string();
        } else if (actual.dtype() != expected->dtype()) {
            row.result = std::string("FAIL: dtype ") + dtype_name(actual.dtype()) + ", ONNX Runtime " +
                         dtype_name(expected->dtype());
        } else if (actual.shape() != expected->shape()) {
            row.result = "FAIL: ONNX Runtime shape " + shape_to_string(expected->shape());
        } else if (is_floating(actual.dtype())) {
            const double err = relative_l2(actual, *expected);
            char text[32];
            std::snprintf(text, sizeof text, "%.2e", err);
            row.error = text;
            if (!(err < kMaxRelativeL2)) row.result = "FAIL: above 1e-4";
        } else {
            const int64_t bad = count_unequal(actual, *expected);
            row.error = bad == 0 ? "exact" : std::to_string(bad) + " differ";
            if (bad != 0) row.result = "FAIL: integer output differs";
        }
        EXPECT_EQ(row.result, "ok") << c.model << " b" << c.batch << " (" << backend << ") output '" << descs[i].name
                                    << "' " << row.shape << " rel L2 " << row.error;
        rows.push_back(std::move(row));
    }
    report();
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<ZooCase, std::string>>& p) {
    const ZooCase& c = std::get<0>(p.param);
    std::string name = c.model + "_b" + std::to_string(c.batch) + "_" + std::get<1>(p.param);
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
}

// A missing cache yields no cases here; ZooCache.is_built is the test that fails then.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Zoo);
INSTANTIATE_TEST_SUITE_P(Cache, Zoo,
                         ::testing::Combine(::testing::ValuesIn(find_cases()),
                                            ::testing::ValuesIn(available_backends())),
                         case_name);

}  // namespace
}  // namespace fovea
