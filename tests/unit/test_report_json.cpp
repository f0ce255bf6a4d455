// Tests of the fdtrack/1 JSON reader and writer: lossless round trips and
// clear errors for anything that is not a complete, well-typed report.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report/report_json.h"

namespace fdtrack {
namespace {

Report sample_report() {
    Report report;
    report.pid = 1234;
    report.program = "/usr/bin/python3.11";
    report.argv = {"python3", "app.py", "--size", "héllo"};
    report.trigger = "exit";
    report.time = "2026-11-26T22:31:05Z";
    report.rlimit_nofile = UINT64_MAX;  // RLIM_INFINITY must survive
    report.open_count = 6;
    report.user_paths = {"/srv/app", "/opt/lib:odd"};

    report.fds.push_back(
        {0, "inherited", "", "chr", "/dev/pts/0", "", false, false, 0, 0, "", std::nullopt, false, ""});
    report.fds.push_back({7, "tracked", "openat", "file", "/etc/hostname", "", true, false, 12.5, 4321, "MainThread",
                          3, false, std::string(kHeldUntilExit)});
    report.fds.push_back({8, "tracked", "socket", "socket", "tcp 127.0.0.1:5000 -> 127.0.0.1:40474", "CLOSE_WAIT",
                          true, true, 0.1234567890123, 4322, "worker-1", 4, true, std::string(kNeverClosed)});
    report.fds.push_back(
        {9, "unknown", "", "pipe", "pipe:[1234]", "", false, false, 0, 0, "", std::nullopt, false, ""});

    Site site;
    site.id = 3;
    site.count = 1;
    site.call = "openat";
    site.oldest_age_s = 12.5;
    site.newest_age_s = 12.5;
    site.frames.push_back({"leak_open", "/src/leaks.c", 34, "/usr/local/bin/leaky", 0x55d0c2a1b2c3});
    site.frames.push_back({"", "", 0, "/lib/x86_64-linux-gnu/libc.so.6", UINT64_MAX});
    site.python.push_back({"infer", "/srv/app.py", 27});
    site.history = {{1796190000, 0}, {1796190010, 1}};
    report.sites.push_back(site);

    Site other;
    other.id = 4;
    other.count = 1;
    other.call = "socket";
    other.frames.push_back({"std::vector<int, std::allocator<int> >::push_back(int&&)", "", 0, "/usr/bin/x", 0x1000});
    report.sites.push_back(other);

    report.bad_closes.push_back({9, "double_close", 5, 4, std::nullopt});
    report.history_interval_s = 10;
    report.open_history = {{1796190000, 5}, {1796190010, 6}};
    return report;
}

TEST(ReportJson, RoundTripIsLossless) {
    Report original = sample_report();
    std::string text = report_to_json(original);
    Report read = report_from_json(text);

    EXPECT_EQ(report_to_json(read), text);
    EXPECT_EQ(read.rlimit_nofile, UINT64_MAX);
    EXPECT_EQ(read.argv, original.argv);
    ASSERT_EQ(read.fds.size(), 4u);
    EXPECT_EQ(read.fds[0].site, std::nullopt);
    EXPECT_EQ(read.fds[1].site, 3);
    EXPECT_EQ(read.fds[2].state, "CLOSE_WAIT");
    EXPECT_TRUE(read.fds[2].nonblock);
    EXPECT_TRUE(read.fds[2].suppressed);
    EXPECT_DOUBLE_EQ(read.fds[2].age_s, 0.1234567890123);
    EXPECT_EQ(read.fds[0].at_exit, "");
    EXPECT_EQ(read.fds[1].at_exit, "held_until_exit");
    EXPECT_EQ(read.fds[2].at_exit, "never_closed");
    EXPECT_EQ(read.user_paths, original.user_paths);
    ASSERT_EQ(read.sites.size(), 2u);
    EXPECT_EQ(read.sites[0].frames[0].address, 0x55d0c2a1b2c3u);
    EXPECT_EQ(read.sites[0].frames[1].address, UINT64_MAX);
    EXPECT_EQ(read.sites[0].frames[0].line, 34);
    EXPECT_EQ(read.sites[0].python[0].file, "/srv/app.py");
    EXPECT_EQ(read.sites[1].frames[0].function, original.sites[1].frames[0].function);
    ASSERT_EQ(read.bad_closes.size(), 1u);
    EXPECT_EQ(read.bad_closes[0].site, 5);
    EXPECT_EQ(read.bad_closes[0].previous_close_site, 4);
    EXPECT_EQ(read.bad_closes[0].opened_site, std::nullopt);
    EXPECT_EQ(read.sites[0].history, original.sites[0].history);
    EXPECT_TRUE(read.sites[1].history.empty());
    EXPECT_EQ(read.history_interval_s, 10);
    EXPECT_EQ(read.open_history, original.open_history);
}

TEST(ReportJson, HistoryIsPairsOfTimeAndCount) {
    auto j = nlohmann::json::parse(report_to_json(sample_report()));
    EXPECT_EQ(j["sites"][0]["history"], nlohmann::json::parse("[[1796190000, 0], [1796190010, 1]]"));
    EXPECT_FALSE(j["sites"][1].contains("history"));  // none kept for it
    EXPECT_EQ(j["history"]["interval_s"], 10);
    EXPECT_EQ(j["history"]["open_fds"][1], nlohmann::json::parse("[1796190010, 6]"));
    Report without = sample_report();
    without.history_interval_s = 0;
    EXPECT_FALSE(nlohmann::json::parse(report_to_json(without)).contains("history"));
}

TEST(ReportJson, RejectsABrokenHistory) {
    for (const char* history : {R"([[1796190010, 1], [1796190000, 2]])", R"([[1796190000]])", R"([[1796190000, -1]])",
                                R"({"t": 1})", R"([["now", 1]])"}) {
        auto j = nlohmann::json::parse(report_to_json(sample_report()));
        j["sites"][0]["history"] = nlohmann::json::parse(history);
        EXPECT_THROW(report_from_json(j.dump()), ReportError) << history;
        j = nlohmann::json::parse(report_to_json(sample_report()));
        j["history"]["open_fds"] = nlohmann::json::parse(history);
        EXPECT_THROW(report_from_json(j.dump()), ReportError) << history;
    }
}

TEST(ReportJson, FollowsTheSpecShape) {
    auto j = nlohmann::json::parse(report_to_json(sample_report()));
    EXPECT_EQ(j["schema"], "fdtrack/1");
    EXPECT_TRUE(j["fds"][0]["site"].is_null());
    EXPECT_FALSE(j["fds"][0].contains("state"));  // TCP sockets only
    EXPECT_EQ(j["fds"][2]["state"], "CLOSE_WAIT");
    EXPECT_EQ(j["fds"][1]["nonblock"], false);
    EXPECT_EQ(j["sites"][0]["frames"][0]["address"], "0x55d0c2a1b2c3");
    EXPECT_EQ(j["sites"][0]["frames"][0]["file"], "/src/leaks.c");
    EXPECT_FALSE(j["sites"][0]["frames"][1].contains("file"));  // no debug info
    EXPECT_FALSE(j["sites"][0]["frames"][1].contains("line"));
    EXPECT_EQ(j["sites"][0]["oldest_age_s"], 12.5);
    EXPECT_TRUE(j["sites"][0].contains("newest_age_s"));
    EXPECT_TRUE(j["bad_closes"][0]["opened_site"].is_null());
    EXPECT_FALSE(j["fds"][0].contains("at_exit"));  // exit reports of CPython programs only
    EXPECT_EQ(j["fds"][1]["at_exit"], "held_until_exit");
    EXPECT_EQ(j["user_paths"], nlohmann::json({"/srv/app", "/opt/lib:odd"}));
}

TEST(ReportJson, OptionalKeysAreLeftOutWhenUnset) {
    Report report = sample_report();
    report.user_paths.clear();
    for (FdEntry& fd : report.fds) fd.at_exit.clear();
    auto j = nlohmann::json::parse(report_to_json(report));
    EXPECT_FALSE(j.contains("user_paths"));
    for (const auto& fd : j["fds"]) EXPECT_FALSE(fd.contains("at_exit")) << fd;
    Report read = report_from_json(j.dump());
    EXPECT_TRUE(read.user_paths.empty());
    EXPECT_EQ(read.fds[1].at_exit, "") << "absent: unknown";
}

TEST(ReportJson, WritingNeverThrowsOnInvalidUtf8) {
    Report report = sample_report();
    report.fds[1].target = "/tmp/\xff\xfe-not-utf8";
    std::string text;
    ASSERT_NO_THROW(text = report_to_json(report));
    EXPECT_NO_THROW(report_from_json(text));
}

TEST(ReportJson, EveryTruncationIsAReportError) {
    std::string text = report_to_json(sample_report());
    // The last bytes are "}\n": cutting the newline leaves a complete document.
    for (size_t length = 0; length + 2 <= text.size(); ++length) {
        EXPECT_THROW(report_from_json(std::string_view(text).substr(0, length)), ReportError) << "length " << length;
    }
}

TEST(ReportJson, TruncationIsNamedAsSuch) {
    std::string text = report_to_json(sample_report());
    try {
        report_from_json(std::string_view(text).substr(0, text.size() / 2));
        FAIL() << "no error";
    } catch (const ReportError& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
}

void expect_error(const std::string& text, const std::string& expected_part) {
    try {
        report_from_json(text);
        FAIL() << "no error for " << text;
    } catch (const ReportError& e) {
        EXPECT_NE(std::string(e.what()).find(expected_part), std::string::npos)
            << "message: " << e.what() << "\nexpected to contain: " << expected_part;
    }
}

nlohmann::json sample_json() { return nlohmann::json::parse(report_to_json(sample_report())); }

TEST(ReportJson, RejectsOtherDocuments) {
    expect_error("", "empty");
    expect_error("   \n", "empty");
    expect_error("[1, 2]", "not an object");
    expect_error("{\"pid\": 1}", "schema");
    expect_error("{nope}", "malformed");

    auto j = sample_json();
    j["schema"] = "fdtrack/2";
    expect_error(j.dump(), "unsupported schema \"fdtrack/2\"");
    j["schema"] = 1;
    expect_error(j.dump(), "unsupported schema 1");
}

TEST(ReportJson, NamesTheFieldOfTheWrongType) {
    auto j = sample_json();
    j["pid"] = "1234";
    expect_error(j.dump(), "pid: expected an integer, found string");

    j = sample_json();
    j["fds"][1]["site"] = "3";
    expect_error(j.dump(), "fds[1].site: expected an integer, found string");

    j = sample_json();
    j["fds"][1]["cloexec"] = 1;
    expect_error(j.dump(), "fds[1].cloexec: expected true or false");

    j = sample_json();
    j["sites"][0]["frames"][0]["address"] = "55d0c2a1b2c3";
    expect_error(j.dump(), "sites[0].frames[0].address");

    j = sample_json();
    j["sites"][0]["frames"][0]["address"] = 1234;
    expect_error(j.dump(), "sites[0].frames[0].address: expected a string, found number");

    j = sample_json();
    j["sites"][0]["python"][0]["line"] = 2.5;
    expect_error(j.dump(), "sites[0].python[0].line: expected an integer");

    j = sample_json();
    j["fds"] = nlohmann::json::object();
    expect_error(j.dump(), "fds: expected an array, found object");

    j = sample_json();
    j["argv"][1] = nullptr;
    expect_error(j.dump(), "argv[1]: expected a string, found null");

    j = sample_json();
    j["rlimit_nofile"] = -1;
    expect_error(j.dump(), "rlimit_nofile: must not be negative");

    j = sample_json();
    j["fds"][0]["fd"] = 1LL << 40;
    expect_error(j.dump(), "fds[0].fd: 1099511627776 is out of range");
}

TEST(ReportJson, NamesMissingFields) {
    auto j = sample_json();
    j["fds"][1].erase("origin");
    expect_error(j.dump(), "fds[1].origin: missing");

    j = sample_json();
    j.erase("bad_closes");
    expect_error(j.dump(), "bad_closes: missing");
}

TEST(ReportJson, RejectsAnUnknownOrigin) {
    auto j = sample_json();
    j["fds"][1]["origin"] = "borrowed";
    expect_error(j.dump(), "fds[1].origin");
}

// fdtrack attach: the fds open before it, and their number, survive a round trip.
TEST(ReportJson, ReadsFdsOpenBeforeAnAttach) {
    Report report = sample_report();
    report.fds[3].origin = "before_attach";
    report.open_before_attach = 1;
    Report back = report_from_json(report_to_json(report));
    EXPECT_EQ(back.fds[3].origin, "before_attach");
    ASSERT_TRUE(back.open_before_attach);
    EXPECT_EQ(*back.open_before_attach, 1);
    EXPECT_FALSE(report_from_json(report_to_json(sample_report())).open_before_attach);  // preloaded: absent
    EXPECT_FALSE(is_leak(back.fds[3]));
}

TEST(ReportJson, RejectsAnUnknownExitState) {
    auto j = sample_json();
    j["fds"][1]["at_exit"] = "closed";
    expect_error(j.dump(), "fds[1].at_exit: expected \"never_closed\" or \"held_until_exit\", found \"closed\"");
    j["fds"][1]["at_exit"] = true;
    expect_error(j.dump(), "fds[1].at_exit: expected a string, found boolean");
}

TEST(ReportJson, UserPathsMustBeStrings) {
    auto j = sample_json();
    j["user_paths"] = "/srv/app";
    expect_error(j.dump(), "user_paths: expected an array, found string");
    j["user_paths"] = {"/srv/app", 7};
    expect_error(j.dump(), "user_paths[1]: expected a string, found number");
}

TEST(ReportJson, ToleratesExtraKeys) {
    auto j = sample_json();
    j["future_field"] = {1, 2, 3};
    j["fds"][1]["inode"] = 42;
    EXPECT_NO_THROW(report_from_json(j.dump()));
}

TEST(ReportJson, FileErrorsNameThePath) {
    try {
        report_from_file("/nonexistent/fdtrack.1.1.json");
        FAIL() << "no error";
    } catch (const ReportError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/fdtrack.1.1.json"), std::string::npos) << e.what();
    }

    std::string path = testing::TempDir() + "fdtrack_truncated.json";
    std::string text = report_to_json(sample_report());
    std::ofstream(path) << text.substr(0, 100);
    try {
        report_from_file(path);
        FAIL() << "no error";
    } catch (const ReportError& e) {
        std::string message = e.what();
        EXPECT_EQ(message.rfind(path + ": truncated", 0), 0u) << message;
    }
}

// ---- hostile input (issue 9) ----------------------------------------------

// The message of the ReportError that reading `path` throws.
std::string file_error(const std::string& path) {
    try {
        report_from_file(path);
    } catch (const ReportError& e) {
        return e.what();
    }
    return "(no error)";
}

std::string temp_file(const std::string& name, const std::string& text) {
    std::string path = testing::TempDir() + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
}

TEST(HostileReport, DeepNestingIsRefusedNotOverflowingTheStack) {
    std::string deep = "{\"schema\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
    expect_error(deep, "nested more than 64 levels deep");
    // Brackets inside strings are text, not nesting.
    auto j = sample_json();
    j["program"] = std::string(1000, '[');
    EXPECT_NO_THROW(report_from_json(j.dump()));
    // And the limit leaves room: a value 60 deep in an unknown key is fine.
    j = sample_json();
    j["future"] = nlohmann::json::parse(std::string(60, '[') + std::string(60, ']'));
    EXPECT_NO_THROW(report_from_json(j.dump()));
}

TEST(HostileReport, MessagesQuoteInputShortAndPrintable) {
    auto j = sample_json();
    j["schema"] = std::string(10'000'000, 'x');
    try {
        report_from_json(j.dump());
        FAIL() << "no error";
    } catch (const ReportError& e) {
        EXPECT_LT(std::string(e.what()).size(), 300u);
        EXPECT_NE(std::string(e.what()).find("(10000002 bytes)"), std::string::npos) << e.what();
    }
    j = sample_json();
    j["fds"][1]["origin"] = "\x1b[2J\nFAKE";
    expect_error(j.dump(), "found \"\\e[2J\\nFAKE\"");
    j = sample_json();
    j["sites"][0]["frames"][0]["address"] = std::string(100000, 'z');
    try {
        report_from_json(j.dump());
        FAIL() << "no error";
    } catch (const ReportError& e) {
        EXPECT_LT(std::string(e.what()).size(), 300u);
    }
    // A syntax error inside a long string: nlohmann quotes the whole token.
    std::string text = "{\"schema\": \"" + std::string(5'000'000, 'y') + "\x01\"}";
    try {
        report_from_json(text);
        FAIL() << "no error";
    } catch (const ReportError& e) {
        EXPECT_LT(std::string(e.what()).size(), 400u);
        for (unsigned char c : std::string(e.what())) EXPECT_GE(c, 0x20);
    }
}

TEST(HostileReport, EveryNumberIsChecked) {
    auto j = sample_json();
    std::string text = j.dump();
    // nlohmann throws out_of_range, not parse_error, for these.
    std::string huge = text;
    huge.replace(huge.find("\"open_count\":6"), 14, "\"open_count\":1e400");
    expect_error(huge, "number overflow parsing '1e400'");
    huge = text;
    huge.replace(huge.find("\"age_s\":12.5"), 12, "\"age_s\":-1e400");
    expect_error(huge, "number overflow");

    j = sample_json();
    j["fds"][1]["age_s"] = 1e308;
    expect_error(j.dump(), "fds[1].age_s: 1e+308 is out of range");
    j = sample_json();
    j["fds"][1]["age_s"] = -0.5;
    expect_error(j.dump(), "fds[1].age_s: -0.5 is out of range");
    j = sample_json();
    j["sites"][0]["oldest_age_s"] = 1e20;
    expect_error(j.dump(), "sites[0].oldest_age_s: 1e+20 is out of range");

    for (const char* key : {"fd", "tid"}) {
        j = sample_json();
        j["fds"][1][key] = -5;
        expect_error(j.dump(), fmt::format("fds[1].{}: -5 is out of range (0 to 2147483647)", key));
    }
    j = sample_json();
    j["sites"][0]["count"] = -2;
    expect_error(j.dump(), "sites[0].count: -2 is out of range");
    j = sample_json();
    j["sites"][0]["id"] = -1;
    expect_error(j.dump(), "sites[0].id: -1 is out of range");
    j = sample_json();
    j["open_count"] = -1;
    expect_error(j.dump(), "open_count: -1 is out of range");
    j = sample_json();
    j["pid"] = -1;
    expect_error(j.dump(), "pid: -1 is out of range");
    j = sample_json();
    j["bad_closes"][0]["fd"] = -1;
    expect_error(j.dump(), "bad_closes[0].fd: -1 is out of range");
    j = sample_json();
    j["sites"][0]["count"] = 2147483648LL;
    expect_error(j.dump(), "sites[0].count: 2147483648 is out of range");
    j = sample_json();
    j["sites"][0]["frames"][0]["line"] = -1;  // only printed: unknown
    EXPECT_NO_THROW(report_from_json(j.dump()));
}

TEST(HostileReport, FileErrorsNameTheFileForNumbersToo) {
    std::string text = report_to_json(sample_report());
    text.replace(text.find("\"open_count\": 6"), 15, "\"open_count\": 1e400");
    std::string path = temp_file("fdtrack_1e400.json", text);
    EXPECT_EQ(file_error(path).rfind(path + ": malformed JSON: number overflow", 0), 0u) << file_error(path);
}

TEST(HostileReport, OnlyRegularFilesAreRead) {
    std::string dir = testing::TempDir() + "fdtrack_hostile_dir";
    std::filesystem::create_directories(dir);
    EXPECT_EQ(file_error(dir), dir + ": cannot read the report: it is a directory");

    std::string fifo = testing::TempDir() + "fdtrack_hostile_fifo";
    unlink(fifo.c_str());
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(file_error(fifo), fifo + ": cannot read the report: it is a FIFO, not a regular file");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));  // never blocks
    unlink(fifo.c_str());

    EXPECT_EQ(file_error("/dev/zero"),
              "/dev/zero: cannot read the report: it is a character device, not a regular file");

    // A symlink to a regular file is a user's choice, and fine.
    std::string real = temp_file("fdtrack_real.json", report_to_json(sample_report()));
    std::string link = testing::TempDir() + "fdtrack_link.json";
    unlink(link.c_str());
    ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
    EXPECT_NO_THROW(report_from_file(link));
}

TEST(HostileReport, AFileLargerThanTheLimitIsRefusedUnread) {
    std::string path = testing::TempDir() + "fdtrack_sparse.json";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(kMaxReportBytes) + 1), 0);  // sparse: no disk used
    close(fd);
    EXPECT_EQ(file_error(path), path + ": cannot read the report: it is larger than 256 MiB, the limit");
    unlink(path.c_str());
}

TEST(HostileReport, NamesWithControlCharactersAreQuotedPrintably) {
    std::string path = temp_file("fdtrack_\x1b[2J\n.json", "{");
    std::string message = file_error(path);
    EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
    EXPECT_NE(message.find("fdtrack_\\e[2J\\n.json: truncated"), std::string::npos) << message;
}

TEST(HostileReport, JsonKeepsNamesExact) {
    Report report = sample_report();
    report.fds[1].target = "/tmp/\x1b[2J\nFAKE fdtrack: No leaks.";
    Report read = report_from_json(report_to_json(report));
    EXPECT_EQ(read.fds[1].target, report.fds[1].target);
}

}  // namespace
}  // namespace fdtrack

namespace fdtrack {
namespace {

TEST(CountsJson, IsAReportWithoutFdsUnderItsOwnSchema) {
    Report counts = sample_report();
    counts.schema = kCountsSchema;
    counts.trigger = "counts";
    counts.fds.clear();
    std::string text = report_to_json(counts);
    Report read = counts_from_json(text);
    EXPECT_EQ(read.schema, kCountsSchema);
    EXPECT_EQ(report_to_json(read), text);
    // Neither reader takes the other's document: a counts answer is no report.
    EXPECT_THROW(report_from_json(text), ReportError);
    EXPECT_THROW(counts_from_json(report_to_json(sample_report())), ReportError);
}

}  // namespace
}  // namespace fdtrack

namespace fdtrack {
namespace {

// The fds are streamed into the output (report_json.cpp, with_fds): it must
// print exactly what nlohmann's tree prints, whatever the strings hold.
TEST(ReportJson, StreamedFdsPrintAsTheTreeWould) {
    Report report = sample_report();
    const char* odd[] = {"plain", "quote \" and \\ backslash", "tab\tnew\nline\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac",
                         "bad \xff\xfe utf-8 \xc3", "", "</script>"};
    int fd = 10;
    for (const char* text : odd) {
        FdEntry entry{fd++, "tracked", text, "file", text, fd % 2 ? "" : text, fd % 3 == 0, fd % 2 == 0,
                      1.0 / fd, fd * 7, text, fd, fd % 2 == 1, fd % 2 ? std::string(kNeverClosed) : ""};
        report.fds.push_back(entry);
    }
    report.fds.push_back({99, "unknown", "", "other", "", "", false, false, 0, 0, "", std::nullopt, false, ""});
    std::string text = report_to_json(report);
    auto tree = nlohmann::ordered_json::parse(text);
    EXPECT_EQ(tree.dump(2, ' ', false) + "\n", text);
    Report read = report_from_json(text);
    ASSERT_EQ(read.fds.size(), report.fds.size());
    EXPECT_EQ(read.fds[6].target, "tab\tnew\nline\x01\x1f\x7f");
    EXPECT_EQ(read.fds[5].thread, "quote \" and \\ backslash");
    EXPECT_EQ(read.fds.back().site, std::nullopt);
    EXPECT_EQ(read.fds.back().call, "");
    Report none = sample_report();
    none.fds.clear();
    EXPECT_EQ(nlohmann::json::parse(report_to_json(none))["fds"], nlohmann::json::array());
}

}  // namespace
}  // namespace fdtrack

namespace fdtrack {
namespace {

// The fds are read while parsing (report_json.cpp, ReportSax), each entry
// flat: the same errors, and the same values, as reading them from a tree.
std::string error_of(const nlohmann::json& j) {
    try {
        report_from_json(j.dump());
    } catch (const ReportError& e) {
        return e.what();
    }
    return "no error";
}

TEST(ReportJson, StreamedFdsReadAsTheTreeWould) {
    auto j = nlohmann::json::parse(report_to_json(sample_report()));
    j["fds"][1]["future"] = {{"nested", {1, 2, {{"deeper", true}}}}};  // unknown keys are ignored, nested or not
    j["fds"][1]["fd"] = 70;
    j["fds"][1].erase("nonblock");  // optional
    Report read = report_from_json(j.dump());
    ASSERT_EQ(read.fds.size(), 4u);
    EXPECT_EQ(read.fds[1].fd, 70);
    EXPECT_FALSE(read.fds[1].nonblock);
    EXPECT_EQ(read.fds[2].target, "tcp 127.0.0.1:5000 -> 127.0.0.1:40474");

    auto broken = [&](auto change) {
        auto copy = nlohmann::json::parse(report_to_json(sample_report()));
        change(copy);
        return error_of(copy);
    };
    EXPECT_EQ(broken([](auto& d) { d["fds"][1] = 5; }), "fds[1]: expected an object, found number");
    EXPECT_EQ(broken([](auto& d) { d["fds"][2] = nlohmann::json::array(); }), "fds[2]: expected an object, found array");
    EXPECT_EQ(broken([](auto& d) { d["fds"][0]["fd"] = nlohmann::json::object(); }),
              "fds[0].fd: expected an integer, found object");
    EXPECT_EQ(broken([](auto& d) { d["fds"][3].erase("kind"); }), "fds[3].kind: missing");
    EXPECT_EQ(broken([](auto& d) { d["fds"] = 3; }), "fds: expected an array, found number");
    EXPECT_EQ(broken([](auto& d) { d.erase("fds"); }), "fds: missing");
    // Errors in the order the tree reader gave them: the schema, the fields
    // before "fds", the first bad entry; a bad entry is skipped whole.
    EXPECT_EQ(broken([](auto& d) { d["fds"][0].erase("kind"), d["schema"] = "fdtrack/2"; }).rfind("unsupported schema", 0), 0u);
    EXPECT_EQ(broken([](auto& d) { d["fds"][0].erase("kind"), d.erase("schema"); }), "not an fdtrack report: no \"schema\" field");
    EXPECT_EQ(broken([](auto& d) { d["fds"][0].erase("kind"), d.erase("pid"); }), "pid: missing");
    EXPECT_EQ(broken([](auto& d) { d["fds"][0] = {{1, {2}}, 3}, d["fds"][2].erase("kind"); }),
              "fds[0]: expected an object, found array");
}

TEST(ReportJson, ARepeatedKeyCountsOnceTheLastTime) {
    std::string text = report_to_json(sample_report());
    // Written by hand: a JSON library keeps only one of each key.
    size_t fds = text.find("\"fds\": [");
    std::string twice = text.substr(0, fds) + "\"fds\": [], " + text.substr(fds);
    EXPECT_EQ(report_from_json(twice).fds.size(), 4u);
    std::string once_more = text.substr(0, fds) + text.substr(fds, text.find("\"sites\"") - fds) + "\"fds\": [], " +
                            text.substr(text.find("\"sites\""));
    EXPECT_EQ(report_from_json(once_more).fds.size(), 0u);
    size_t fd_key = text.find("\"fd\": 7");
    std::string entry_twice = text.substr(0, fd_key) + "\"fd\": 8, " + text.substr(fd_key);
    EXPECT_EQ(report_from_json(entry_twice).fds[1].fd, 7);
}

}  // namespace
}  // namespace fdtrack
