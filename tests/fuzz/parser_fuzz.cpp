// Deterministic fuzzing of the two parsers that read files from anyone (issue
// 9): fdtrack/1 reports and suppression files. Seeds are mutated byte-wise and
// structurally with a fixed seed and a fixed count, so CI runs the same inputs
// every time in a few seconds; each must give a value or the parser's own
// error, never a crash, a hang or another exception, and whatever is accepted
// must render safely and write back what its own reader accepts.
// FDTRACK_FUZZ_INPUTS=N and FDTRACK_FUZZ_SEED=S explore further by hand.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report/printable.h"
#include "report/report_diff.h"
#include "report/report_json.h"
#include "report/report_text.h"
#include "report/suppressions.h"

namespace fdtrack {
namespace {

using nlohmann::json;

size_t env_number(const char* name, size_t fallback) {
    const char* text = std::getenv(name);
    return text && *text ? std::strtoull(text, nullptr, 0) : fallback;
}

// ---- seeds ---------------------------------------------------------------------

Report seed_report() {
    Report report;
    report.pid = 4242;
    report.program = "/usr/bin/python3.11";
    report.argv = {"python3", "app.py", "--name=héllo"};
    report.trigger = "exit";
    report.time = "2026-11-26T22:31:05Z";
    report.rlimit_nofile = 1024;
    report.user_paths = {"/srv/app"};
    Site python;
    python.id = 3;
    python.count = 2;
    python.call = "socket";
    python.oldest_age_s = 12.5;
    python.newest_age_s = 0.25;
    python.frames = {{"socket", "", 0, "/lib/x86_64-linux-gnu/libc.so.6", 0x7f0012345678},
                     {"_PyEval_EvalFrameDefault", "", 0, "/usr/lib/libpython3.11.so.1.0", 0x7f0000001000},
                     {"_PyObject_MakeTpCall", "", 0, "/usr/lib/libpython3.11.so.1.0", 0x7f0000002000}};
    python.python = {{"__init__", "/usr/lib/python3.11/socket.py", 232}, {"handler", "/srv/app/app.py", 27}};
    Site native;
    native.id = 5;
    native.count = 1;
    native.call = "openat";
    native.frames = {{"leak_open", "/src/leaks.c", 34, "/usr/local/bin/leaky", 0x55d0c2a1b2c3}};
    report.sites = {python, native};
    auto fd = [](int number, std::string origin, std::string call, std::string kind, std::string target,
                 std::optional<int> site, std::string at_exit) {
        FdEntry entry;
        entry.fd = number;
        entry.origin = std::move(origin);
        entry.call = std::move(call);
        entry.kind = std::move(kind);
        entry.target = std::move(target);
        entry.age_s = 1.5;
        entry.tid = 77;
        entry.thread = "MainThread";
        entry.site = site;
        entry.at_exit = std::move(at_exit);
        return entry;
    };
    report.fds = {fd(0, "inherited", "", "chr", "/dev/pts/0", std::nullopt, ""),
                  fd(3, "tracked", "socket", "socket", "tcp 127.0.0.1:5000 -> 127.0.0.1:40474", 3, "never_closed"),
                  fd(4, "tracked", "socket", "socket", "unix /dev/log", 3, "held_until_exit"),
                  fd(7, "tracked", "openat", "file", "/etc/hostname", 5, ""),
                  fd(9, "unknown", "", "pipe", "pipe:[1234]", std::nullopt, "")};
    report.fds[1].state = "CLOSE_WAIT";
    report.open_count = static_cast<int>(report.fds.size());
    report.bad_closes = {{9, "double_close", 5, 3, std::nullopt}};
    return report;
}

std::vector<std::string> report_seeds() {
    Report full = seed_report();
    Report dump = seed_report();
    dump.trigger = "signal";
    for (FdEntry& fd : dump.fds) fd.at_exit.clear();
    Report empty;
    empty.trigger = "api";
    return {report_to_json(full), report_to_json(dump), report_to_json(empty)};
}

std::vector<std::string> suppression_seeds() {
    return {
        "# The syslog socket lives as long as the process.\n"
        "suppress: logging-socket\n  call: socket\n  kind: socket\n  target: unix /dev/log*\n"
        "  function: *openlog*\n\nsuppress: sentry transport\n  python: */site-packages/sentry_sdk/*\n",
        "suppress: a\n call: open*\n kind: [fp]i*\n function: operator\\[\\]\n",
        "suppress: broken\n  calll: socket\nfunction leak_open\n  kind: sockt\nsuppress: all\n",
    };
}

// ---- mutations -------------------------------------------------------------------

const std::vector<std::string> kTokens = {
    "[", "]", "{", "}", "\"", "\\", ",", ":", "null", "true", "-", "0", "-5", "1e400", "-1e400", "1e308",
    "2147483648", "-2147483649", "9223372036854775808", "18446744073709551616", "1e-400", "\\u0000", "\\ud800",
    "\x1b[2J", "\n", "\r", "\t", "\xff", "\xc2\x9b", "\xe2\x9c\x93", "suppress:", "call:", "kind:", "target:",
    "function:", "python:", "#", "*", "?", "[!", "\"fds\"", "\"sites\"", "\"site\"", "\"count\"", "\"age_s\"",
    "\"schema\":\"fdtrack/1\"",
};

class Mutator {
public:
    explicit Mutator(uint64_t seed) : random_(seed) {}

    size_t below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(random_); }
    bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }

    void mutate_bytes(std::string& text, const std::vector<std::string>& others) {
        switch (below(7)) {
            case 0:
                if (!text.empty()) text[below(text.size())] ^= static_cast<char>(1 << below(8));
                break;
            case 1:
                if (!text.empty()) text[below(text.size())] = "\0\x1b\n\xff\"\\[{]}:,"[below(12)];
                break;
            case 2: text.insert(below(text.size() + 1), kTokens[below(kTokens.size())]); break;
            case 3:
                if (!text.empty()) {
                    size_t at = below(text.size());
                    text.erase(at, 1 + below(16));
                }
                break;
            case 4:
                if (!text.empty()) {
                    size_t at = below(text.size());
                    std::string piece = text.substr(at, 1 + below(64));
                    text.insert(below(text.size() + 1), piece);
                }
                break;
            case 5: {
                const std::string& other = others[below(others.size())];
                text = text.substr(0, below(text.size() + 1)) + other.substr(below(other.size() + 1));
                break;
            }
            default: {  // a digit run replaced by an extreme number
                size_t at = text.find_first_of("0123456789", below(text.size() + 1));
                if (at == std::string::npos) break;
                size_t end = text.find_first_not_of("0123456789.e+-", at);
                text.replace(at, (end == std::string::npos ? text.size() : end) - at,
                             kTokens[9 + below(13)]);
            }
        }
    }

    // Mostly a value of the same type, which the reader's type checks let
    // through to its range checks and to the renderers.
    json random_value_like(const json& old) {
        if (chance(30)) return random_value();
        if (old.is_number()) return random_value(2 + below(3));
        if (old.is_string()) return random_value(5 + below(3));
        return random_value();
    }

    json random_value(size_t kind = SIZE_MAX) {
        switch (kind == SIZE_MAX ? below(12) : kind) {
            case 0: return nullptr;
            case 1: return chance(50);
            case 2: {
                static const int64_t ints[] = {-5, -1, 0, 1, 2, 3, 2147483647, 2147483648LL, -2147483649LL,
                                               INT64_MAX, INT64_MIN};
                return ints[below(std::size(ints))];
            }
            case 3: return std::numeric_limits<uint64_t>::max();
            case 4: {
                static const double doubles[] = {1e308, -1e308, 1e-320, 0.5, -0.0, 1e10, 1e10 + 1, 3.0};
                return doubles[below(std::size(doubles))];
            }
            case 5: return std::string("\x1b[2J\nFAKE fdtrack: No leaks.");
            case 6: return std::string(below(4) == 0 ? 100000 : 40, "x*[\\"[below(4)]);
            case 7: {
                static const char* words[] = {"tracked", "inherited", "unknown", "exit", "signal", "never_closed",
                                              "held_until_exit", "0x", "0x10", "0xfffffffffffffffff", "fdtrack/1",
                                              "", "file", "socket", "double_close"};
                return words[below(std::size(words))];
            }
            case 8: {
                json nested = json::array();
                for (size_t depth = 1 + below(100); depth > 0; --depth) nested = json::array({nested});
                return nested;
            }
            case 9: return json::array();
            case 10: return json::object();
            default: return static_cast<int>(below(10));
        }
    }

    // A random node of `value` (an object member or array element) is
    // replaced, removed or duplicated.
    void mutate_json(json& value) {
        json* node = &value;
        for (int steps = 1 + static_cast<int>(below(6)); steps > 0; --steps) {
            if (!(node->is_object() || node->is_array()) || node->empty()) break;
            auto it = node->begin();
            std::advance(it, static_cast<long>(below(node->size())));
            if (steps == 1 || !(it->is_object() || it->is_array()) || it->empty()) {
                switch (below(4)) {
                    case 0:
                        if (node->is_object()) node->erase(it.key());
                        else node->erase(it);
                        break;
                    case 1:
                        if (node->is_array()) node->push_back(*it);
                        else *it = random_value();
                        break;
                    default: *it = random_value_like(*it);
                }
                return;
            }
            node = &*it;
        }
    }

private:
    std::mt19937_64 random_;
};

// ---- what must hold ------------------------------------------------------------------

// Saved so that a failure in CI can be replayed: `fdtrack report FILE`.
std::string save(const std::string& input, const std::string& what, size_t index) {
    std::string path = testing::TempDir() + fmt::format("fdtrack_fuzz_{}_{}.txt", what, index);
    std::ofstream(path, std::ios::binary) << input;
    return path;
}

void expect_printable(const std::string& text, const char* what) {
    for (unsigned char c : text) {
        if (!(c == '\n' || (c >= 0x20 && c != 0x7f))) {
            FAIL() << what << " holds byte " << int(c) << ":\n" << printable_excerpt(text, 2000);
        }
    }
}

void check_accepted_report(const Report& report) {
    expect_printable(render_text(report), "render_text");
    expect_printable(top_site_summary(report) + "\n", "top_site_summary");
    std::vector<SiteGrowth> grown = diff_reports(Report{}, report);
    expect_printable(render_diff_text(Report{}, report, grown), "render_diff_text");
    (void)diff_to_json(report, report, diff_reports(report, report));
    // What the reader accepted, the writer writes in a form the reader accepts.
    Report again = report_from_json(report_to_json(report));
    EXPECT_EQ(again.fds.size(), report.fds.size());
    // --gen-suppressions never prints a rule its own parser rejects.
    std::string rules = render_suggestions(suggest_suppressions(report));
    expect_printable(rules, "render_suggestions");
    try {
        parse_suppressions(rules, "generated");
    } catch (const SuppressionError& e) {
        FAIL() << "generated rules rejected: " << e.what() << "\n" << rules;
    }
}

TEST(ParserFuzz, ReportsGiveAReportOrAReportError) {
    std::vector<std::string> seeds = report_seeds();
    std::vector<json> parsed;
    for (const std::string& seed : seeds) parsed.push_back(json::parse(seed));
    Mutator mutate(env_number("FDTRACK_FUZZ_SEED", 0x9f17e5));
    size_t inputs = env_number("FDTRACK_FUZZ_INPUTS", 20000), accepted = 0;
    for (size_t i = 0; i < inputs; ++i) {
        std::string input;
        if (mutate.chance(70)) {  // mostly well-formed JSON, to reach the field checks
            json value = parsed[mutate.below(parsed.size())];
            for (size_t n = mutate.chance(50) ? 1 : 2 + mutate.below(3); n > 0; --n) mutate.mutate_json(value);
            input = value.dump(mutate.chance(50) ? -1 : 2, ' ', false, json::error_handler_t::replace);
            if (mutate.chance(20)) mutate.mutate_bytes(input, seeds);
        } else {
            input = seeds[mutate.below(seeds.size())];
            for (size_t n = 1 + mutate.below(8); n > 0; --n) mutate.mutate_bytes(input, seeds);
        }
        try {
            Report report = report_from_json(input);
            ++accepted;
            check_accepted_report(report);
        } catch (const ReportError& e) {
            std::string message = e.what();
            if (message.size() > 600) {
                FAIL() << "a message of " << message.size() << " bytes, input " << save(input, "report", i);
            }
            expect_printable(message, "the error message");
        } catch (const std::exception& e) {
            FAIL() << "not a ReportError: " << e.what() << "; input saved as " << save(input, "report", i);
        }
        if (HasFatalFailure() || HasFailure()) {
            FAIL() << "input " << i << " saved as " << save(input, "report", i);
        }
    }
    // The mutations must reach past the parser, or the checks above test nothing.
    EXPECT_GT(accepted, inputs / 20);
    RecordProperty("accepted", static_cast<int>(accepted));
}

TEST(ParserFuzz, SuppressionFilesGiveRulesOrASuppressionError) {
    std::vector<std::string> seeds = suppression_seeds();
    Report report = seed_report();
    Mutator mutate(env_number("FDTRACK_FUZZ_SEED", 0x5eed5));
    size_t inputs = env_number("FDTRACK_FUZZ_INPUTS", 20000), accepted = 0;
    for (size_t i = 0; i < inputs; ++i) {
        std::string input = seeds[mutate.below(seeds.size())];
        for (size_t n = 1 + mutate.below(6); n > 0; --n) mutate.mutate_bytes(input, seeds);
        try {
            std::vector<SuppressionRule> rules = parse_suppressions(input, "fuzz.supp");
            ++accepted;
            Report copy = report;
            apply_suppressions(rules, copy);
            for (const SuppressionRule& rule : rules) {
                std::vector<SuppressionRule> again = parse_suppressions(format_rule(rule), "again");
                ASSERT_EQ(again.size(), 1u);
                EXPECT_EQ(again[0].call, rule.call);
                EXPECT_EQ(again[0].kind, rule.kind);
                EXPECT_EQ(again[0].target, rule.target);
                EXPECT_EQ(again[0].function, rule.function);
                EXPECT_EQ(again[0].python, rule.python);
            }
        } catch (const SuppressionError& e) {
            EXPECT_LE(e.errors().size(), kMaxSuppressionErrors + 1);
            for (const std::string& line : e.errors()) {
                EXPECT_LT(line.size(), 400u);
                expect_printable(line, "an error line");
            }
        } catch (const std::exception& e) {
            FAIL() << "not a SuppressionError: " << e.what() << "; input saved as " << save(input, "supp", i);
        }
        if (HasFailure()) FAIL() << "input " << i << " saved as " << save(input, "supp", i);
    }
    EXPECT_GT(accepted, inputs / 20);
    RecordProperty("accepted", static_cast<int>(accepted));
}

}  // namespace
}  // namespace fdtrack
