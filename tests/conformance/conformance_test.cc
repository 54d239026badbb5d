// Runs the ONNX backend node test cases (node, pytorch-converted, pytorch-operator, simple) on every backend and
// compares like ONNX's own runner: |actual - expected| <= atol + rtol * |expected|, rtol 1e-3, atol 1e-7.
// Cases whose ops or dtypes fovea does not support are skipped and counted, per op, in the report
// (written to $FOVEA_CONFORMANCE_REPORT when set; docs/conformance.md is its home).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fovea/session.h"
#include "onnx/importer.h"

#include <onnx/onnx_pb.h>

namespace fovea {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSuites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

struct Case {
    std::string suite;
    std::string name;
    fs::path dir;
};

std::vector<Case> discover_cases() {
    // The environment may point elsewhere: the GPU test machine gets the data in a bundle, not from Debian.
    const char* env = std::getenv("FOVEA_ONNX_TESTDATA");
    const fs::path data = env && *env ? fs::path(env) : fs::path(FOVEA_ONNX_TESTDATA);
    std::vector<Case> cases;
    for (const char* suite : kSuites) {
        const fs::path root = data / suite;
        if (!fs::exists(root)) continue;
        for (const auto& entry : fs::directory_iterator(root))
            if (fs::exists(entry.path() / "model.onnx"))
                cases.push_back({suite, entry.path().filename().string(), entry.path()});
    }
    std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.dir < b.dir; });
    return cases;
}

// Per op type and backend: how many cases containing it passed, ran and were skipped.
struct Tally {
    int passed = 0, ran = 0, skipped = 0;
    int via_ref = 0;  // cases that ran, with some nodes on the reference kernels (on the host, for a device backend)
};
std::map<std::string, std::map<std::string, Tally>>& tallies() {
    static std::map<std::string, std::map<std::string, Tally>> t;
    return t;
}
std::map<std::string, std::set<std::string>>& skip_reasons() {
    static std::map<std::string, std::set<std::string>> r;
    return r;
}

// Op types straight from the file, so that cases the importer rejects are tallied under their ops too.
std::set<std::string> op_types_of(const fs::path& model) {
    std::set<std::string> ops;
    std::ifstream in(model, std::ios::binary);
    ::onnx::ModelProto proto;
    if (!proto.ParseFromIstream(&in)) return {"(unreadable model)"};
    for (const auto& n : proto.graph().node()) ops.insert(n.op_type());
    return ops;
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected) {
    if (actual.dtype() != expected.dtype())
        return ::testing::AssertionFailure()
               << "dtype " << dtype_name(actual.dtype()) << " != expected " << dtype_name(expected.dtype());
    if (actual.shape() != expected.shape())
        return ::testing::AssertionFailure()
               << "shape " << shape_to_string(actual.shape()) << " != expected " << shape_to_string(expected.shape());
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < expected.numel(); ++i) {
        const double a = actual.element_as_double(i), e = expected.element_as_double(i);
        const bool ok = (std::isnan(a) && std::isnan(e)) || a == e || std::abs(a - e) <= 1e-7 + 1e-3 * std::abs(e);
        if (!ok && bad++ == 0) first = i;
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad << " of " << expected.numel() << " elements differ; first at " << first
                                         << ": " << actual.element_as_double(first) << " vs expected "
                                         << expected.element_as_double(first);
}

void PrintTo(const Case& c, std::ostream* os) {
    *os << c.suite << "/" << c.name;
}

class Conformance : public ::testing::TestWithParam<std::tuple<Case, std::string>> {};

TEST_P(Conformance, MatchesExpectedOutputs) {
    const auto& [c, backend] = GetParam();
    const std::set<std::string> ops = op_types_of(c.dir / "model.onnx");
    // What fovea reports as unsupported (an op, an attribute value, a dtype, training mode) skips the case.
    auto unsupported_here = [&](const Status& s) {
        if (s.code() != StatusCode::kUnsupported) return false;
        for (const auto& op : ops) {
            ++tallies()[op][backend].skipped;
            skip_reasons()[op].insert(s.message().substr(s.message().find(": ") + 2, 160));
        }
        return true;
    };
    SessionOptions options;
    options.backend = backend;
    auto session = Session::load((c.dir / "model.onnx").string(), options);
    if (unsupported_here(session.status())) GTEST_SKIP() << session.status().to_string();
    ASSERT_TRUE(session.is_ok()) << session.status().to_string();

    const fs::path data = c.dir / "test_data_set_0";
    auto read = [&](const std::string& name) { return onnx::read_tensor_file((data / (name + ".pb")).string()); };
    std::map<std::string, Tensor> inputs;
    std::vector<Tensor> expected;
    const auto& descs = (*session)->inputs();
    for (size_t i = 0; i < descs.size() + (*session)->outputs().size(); ++i) {
        const bool is_input = i < descs.size();
        auto t = read(is_input ? "input_" + std::to_string(i) : "output_" + std::to_string(i - descs.size()));
        if (unsupported_here(t.status())) GTEST_SKIP() << t.status().to_string();  // bfloat16 data stored as uint16
        ASSERT_TRUE(t.is_ok()) << t.status().to_string();
        if (is_input)
            inputs[descs[i].name] = std::move(t).value();
        else
            expected.push_back(std::move(t).value());
    }
    auto outputs = (*session)->run(inputs);
    if (unsupported_here(outputs.status())) GTEST_SKIP() << outputs.status().to_string();
    const auto per_backend = (*session)->nodes_per_backend();
    const bool via_ref = backend != "ref" && per_backend.count("ref") && per_backend.at("ref") > 0;
    for (const auto& op : ops) {
        ++tallies()[op][backend].ran;
        tallies()[op][backend].via_ref += via_ref;
    }
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().to_string();
    ASSERT_EQ(outputs->size(), expected.size());
    bool pass = true;
    for (size_t i = 0; i < outputs->size(); ++i) {
        const auto close = all_close((*outputs)[i], expected[i]);
        EXPECT_TRUE(close) << "output " << i << " ('" << (*session)->outputs()[i].name << "')";
        pass = pass && close;
    }
    if (pass)
        for (const auto& op : ops) ++tallies()[op][backend].passed;
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<Case, std::string>>& info) {
    std::string name =
        std::get<1>(info.param) + "_" + std::get<0>(info.param).suite + "_" + std::get<0>(info.param).name;
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Onnx, Conformance,
                         ::testing::Combine(::testing::ValuesIn(discover_cases()),
                                            ::testing::ValuesIn(available_backends())),
                         case_name);

// Writes the per-op table after all cases ran.
class ReportWriter : public ::testing::EmptyTestEventListener {
    void OnTestProgramEnd(const ::testing::UnitTest&) override {
        const char* path = std::getenv("FOVEA_CONFORMANCE_REPORT");
        if (!path) return;
        std::ofstream out(path);
        const std::vector<std::string> backends = available_backends();
        out << "# ONNX conformance\n\n"
            << "Generated by `make conformance-report` (`FOVEA_CONFORMANCE_REPORT=docs/conformance.md "
               "build/release/tests/fovea_conformance`)\n"
            << "over Debian's libonnx-testdata 1.12 (suites node, pytorch-converted, pytorch-operator, simple).\n"
            << "Per backend: passed / run, and (skipped). A case counts once for every op type it contains; 'skipped'\n"
            << "means fovea reported the op, an attribute value or a dtype as unsupported; 'N via ref': in N of the\n"
            << "cases run, the backend left some nodes to the reference kernels (the cuda backend runs them on the "
               "host\n"
            << "between its device steps). Comparison: rtol 1e-3, atol 1e-7.\n\n| op |";
        for (const auto& b : backends) out << " " << b << " |";
        out << " why skipped |\n|---|";
        for (size_t i = 0; i < backends.size(); ++i) out << "---|";
        out << "---|\n";
        for (auto& [op, per_backend] : tallies()) {
            std::string why;
            for (const auto& r : skip_reasons()[op]) why += (why.empty() ? "" : "; ") + r;
            if (why.size() > 300) why = why.substr(0, 300) + "...";
            for (char& ch : why)
                if (ch == '|' || ch == '\n') ch = ' ';
            out << "| " << op << " |";
            for (const auto& b : backends) {
                const Tally& t = per_backend[b];
                out << " " << t.passed << " / " << t.ran << (t.skipped ? " (" + std::to_string(t.skipped) + ")" : "")
                    << (t.via_ref ? ", " + std::to_string(t.via_ref) + " via ref" : "") << " |";
            }
            out << " " << why << " |\n";
        }
    }
};

}  // namespace
}  // namespace fovea

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::UnitTest::GetInstance()->listeners().Append(new fovea::ReportWriter);
    return RUN_ALL_TESTS();
}
