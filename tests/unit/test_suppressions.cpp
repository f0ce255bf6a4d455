// Tests of suppression files: the format and its FILE:LINE errors, which fds
// a rule matches, and that generated rules suppress exactly their leak.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "report/suppressions.h"

namespace fdtrack {
namespace {

std::string first_error(std::string_view text) {
    try {
        parse_suppressions(text, "supp.txt");
    } catch (const SuppressionError& e) {
        return e.errors().front();
    }
    return "(no error)";
}

FdEntry tracked(int fd, int site, std::string call, std::string kind, std::string target) {
    FdEntry entry;
    entry.fd = fd;
    entry.origin = "tracked";
    entry.call = std::move(call);
    entry.kind = std::move(kind);
    entry.target = std::move(target);
    entry.site = site;
    return entry;
}

// A Python test leaking a socket and a C library opening /dev/log.
Report two_leaks() {
    Report report;
    report.pid = 42;
    report.program = "/usr/bin/python3.11";
    report.trigger = "exit";
    Site py;
    py.id = 1;
    py.count = 1;
    py.call = "socket";
    py.frames = {{"socket", "", 0, "/lib/x86_64-linux-gnu/libc.so.6", 0x10},
                 {"_PyEval_EvalFrameDefault", "", 0, "/usr/bin/python3.11", 0x20}};
    py.python = {{"__init__", "/usr/lib/python3.11/socket.py", 232},
                 {"test_leaks", "/home/me/tests/test_net.py", 9},
                 {"pytest_pyfunc_call", "/usr/lib/python3/dist-packages/_pytest/python.py", 195}};
    Site native;
    native.id = 2;
    native.count = 2;
    native.call = "socket";
    native.frames = {{"__socket", "", 0, "/lib/x86_64-linux-gnu/libc.so.6", 0x30},
                     {"open_log(char const*)", "/src/log.c", 12, "/usr/lib/liblog.so", 0x40},
                     {"main", "/src/main.c", 3, "/usr/bin/app", 0x50}};
    report.sites = {py, native};
    report.fds = {tracked(3, 1, "socket", "socket", "tcp 127.0.0.1:40000 -> 127.0.0.1:80"),
                  tracked(4, 2, "socket", "socket", "unix /dev/log"),
                  tracked(5, 2, "socket", "socket", "unix /dev/log")};
    FdEntry inherited;
    inherited.fd = 6;
    inherited.origin = "inherited";
    inherited.kind = "socket";
    inherited.target = "unix /dev/log";
    report.fds.push_back(inherited);
    return report;
}

TEST(SuppressionFormat, ParsesCommentsBlocksAndEveryKey) {
    auto rules = parse_suppressions(R"(# the logging socket is closed by the OS at exit
suppress: logging-socket
  call: socket
  kind: socket
  target: unix /dev/log*
  function: *open_log*
  python: */site-packages/sentry_sdk/*

   # indented comments too
suppress: any pipe
kind: pipe
)",
                                    "supp.txt");
    ASSERT_EQ(rules.size(), 2u);
    EXPECT_EQ(rules[0].name, "logging-socket");
    EXPECT_EQ(rules[0].where, "supp.txt:2");
    EXPECT_EQ(rules[0].call, "socket");
    EXPECT_EQ(rules[0].kind, "socket");
    EXPECT_EQ(rules[0].target, "unix /dev/log*");
    EXPECT_EQ(rules[0].function, "*open_log*");
    EXPECT_EQ(rules[0].python, "*/site-packages/sentry_sdk/*");
    EXPECT_EQ(rules[1].name, "any pipe");
    EXPECT_EQ(rules[1].kind, "pipe");
    EXPECT_TRUE(parse_suppressions("# nothing but a comment\n\n", "supp.txt").empty());
}

TEST(SuppressionFormat, ErrorsNameFileAndLine) {
    EXPECT_EQ(first_error("# c\n\nsuppress: x\n  calll: socket\n"),
              "supp.txt:4: unknown key 'calll' (expected call, kind, target, function, python)");
    EXPECT_EQ(first_error("suppress: x\n  call socket\n"),
              "supp.txt:2: expected 'suppress: NAME' or 'KEY: VALUE', got 'call socket'");
    EXPECT_EQ(first_error("call: socket\n"),
              "supp.txt:1: 'call:' outside a rule; start each rule with 'suppress: NAME'");
    EXPECT_EQ(first_error("suppress:\n  call: socket\n"), "supp.txt:1: 'suppress:' needs a name for the rule");
    EXPECT_EQ(first_error("suppress: x\n  call:\n  kind: pipe\n"), "supp.txt:2: 'call:' has no value");
    EXPECT_EQ(first_error("suppress: x\n  call: a\n  call: b\n"), "supp.txt:3: 'call' given twice in rule 'x'");
    EXPECT_EQ(first_error("suppress: x\n  kind: sockett\n").substr(0, 39), "supp.txt:2: unknown kind 'sockett' (exp");
    EXPECT_EQ(first_error("suppress: empty\n\nsuppress: y\n  kind: pipe\n"),
              "supp.txt:1: rule 'empty' has no keys, so it would suppress every leak (give at least one of call, "
              "kind, target, function, python)");
}

TEST(SuppressionFormat, ListsEveryBadLine) {
    try {
        parse_suppressions("suppress: x\n  calll: a\n  kind: pipe\n  targte: b\n", "supp.txt");
        FAIL() << "no error";
    } catch (const SuppressionError& e) {
        ASSERT_EQ(e.errors().size(), 2u);
        EXPECT_TRUE(e.errors()[1].starts_with("supp.txt:4: unknown key 'targte'"));
        EXPECT_NE(std::string(e.what()).find('\n'), std::string::npos);
    }
}

TEST(SuppressionFormat, ARuleWithOnlyBadKeysIsNotAlsoCalledEmpty) {
    try {
        parse_suppressions("suppress: x\n  calll: a\n", "supp.txt");
        FAIL() << "no error";
    } catch (const SuppressionError& e) {
        EXPECT_EQ(e.errors().size(), 1u) << e.what();
    }
}

TEST(SuppressionFormat, KindGlobsAreNotCheckedAgainstTheList) {
    EXPECT_EQ(parse_suppressions("suppress: x\n kind: *fd\n", "s").front().kind, "*fd");
}

TEST(SuppressionFormat, MissingFileIsAnError) {
    EXPECT_THROW(load_suppressions("/nonexistent/supp.txt"), SuppressionError);
}

TEST(SuppressionMatch, AllGivenKeysMustMatch) {
    Report report = two_leaks();
    const Site* native = &report.sites[1];
    const FdEntry& log = report.fds[1];
    auto rule = [](std::string text) { return parse_suppressions(text, "s").front(); };

    EXPECT_TRUE(suppression_matches(rule("suppress: r\n call: socket\n"), log, native));
    EXPECT_TRUE(suppression_matches(rule("suppress: r\n function: open_log*\n target: unix /dev/*\n"), log, native));
    EXPECT_FALSE(suppression_matches(rule("suppress: r\n function: open_log*\n kind: pipe\n"), log, native));
    EXPECT_FALSE(suppression_matches(rule("suppress: r\n function: open_log\n"), log, native))
        << "globs match the whole name";
    EXPECT_FALSE(suppression_matches(rule("suppress: r\n python: *\n"), log, native)) << "no Python frames";
    EXPECT_FALSE(suppression_matches(rule("suppress: r\n function: *\n"), log, nullptr)) << "no site";

    const Site* py = &report.sites[0];
    EXPECT_TRUE(suppression_matches(rule("suppress: r\n python: */tests/test_net.py\n"), report.fds[0], py));
    EXPECT_TRUE(suppression_matches(rule("suppress: r\n python: /usr/lib/python3.11/*\n"), report.fds[0], py))
        << "any Python frame";
    EXPECT_FALSE(suppression_matches(rule("suppress: r\n kind: socket\n"), report.fds[3], nullptr))
        << "inherited fds are never leaks, so never suppressed";
}

TEST(SuppressionApply, MarksMatchesAndLeavesTheRest) {
    Report report = two_leaks();
    auto rules = parse_suppressions("suppress: log\n  function: open_log*\n", "s");
    EXPECT_EQ(apply_suppressions(rules, report), 2);
    EXPECT_FALSE(report.fds[0].suppressed);
    EXPECT_TRUE(report.fds[1].suppressed);
    EXPECT_TRUE(report.fds[2].suppressed);
    EXPECT_FALSE(report.fds[3].suppressed);
    EXPECT_EQ(apply_suppressions(rules, report), 0) << "applying again changes nothing";
}

TEST(GeneratedSuppressions, NameTheUsersFrameAndSuppressExactlyTheirLeak) {
    Report report = two_leaks();
    std::string text = render_suggestions(suggest_suppressions(report));
    EXPECT_NE(text.find("  python: /home/me/tests/test_net.py\n"), std::string::npos) << text;
    // The * of the demangled name is taken literally.
    EXPECT_NE(text.find("  function: open_log(char const\\*)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# 2 fds leaked from log.c:12 in open_log(char const*) in pid 42"), std::string::npos)
        << text;

    auto rules = parse_suppressions(text, "generated");
    ASSERT_EQ(rules.size(), 2u);
    // Each rule alone suppresses its own site and not the other's.
    for (const SuppressionRule& rule : rules) {
        Report copy = two_leaks();
        apply_suppressions({rule}, copy);
        bool python_rule = !rule.python.empty();
        EXPECT_EQ(copy.fds[0].suppressed, python_rule) << format_rule(rule);
        EXPECT_EQ(copy.fds[1].suppressed, !python_rule) << format_rule(rule);
    }
    apply_suppressions(rules, report);
    EXPECT_TRUE(suggest_suppressions(report).empty()) << "nothing left to suppress";
}

TEST(GeneratedSuppressions, NameTheFrameTheReportsUserPathsChoose) {
    Report report = two_leaks();
    report.user_paths = {"/usr/lib/python3/dist-packages/_pytest", "/src/main.c"};
    std::string text = render_suggestions(suggest_suppressions(report));
    EXPECT_NE(text.find("  python: /usr/lib/python3/dist-packages/_pytest/python.py\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  function: main\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# 2 fds leaked from main.c:3 in main in pid 42"), std::string::npos) << text;
    auto rules = parse_suppressions(text, "generated");
    EXPECT_EQ(apply_suppressions(rules, report), 3);
}

TEST(GeneratedSuppressions, EscapeGlobCharactersOfNames) {
    Report report;
    Site site;
    site.id = 1;
    site.call = "open";
    site.frames = {{"Table<int>::operator[](unsigned long)", "/src/t.cc", 5, "/usr/bin/app", 0x10},
                   {"main*?", "/src/t.cc", 9, "/usr/bin/app", 0x20}};
    report.sites = {site};
    report.fds = {tracked(3, 1, "open", "file", "/tmp/x")};
    std::string text = render_suggestions(suggest_suppressions(report));
    EXPECT_NE(text.find("  function: Table<int>::operator\\[](unsigned long)\n"), std::string::npos) << text;
    auto rules = parse_suppressions(text, "generated");
    EXPECT_EQ(apply_suppressions(rules, report), 1);
}

TEST(GeneratedSuppressions, SameRuleFromTwoProcessesAppearsOnce) {
    Report one = two_leaks(), other = two_leaks();
    other.pid = 43;
    std::vector<SuggestedRule> all = suggest_suppressions(one);
    for (SuggestedRule& rule : suggest_suppressions(other)) all.push_back(std::move(rule));
    EXPECT_EQ(all.size(), 4u);
    EXPECT_EQ(parse_suppressions(render_suggestions(all), "generated").size(), 2u);
}

TEST(GeneratedSuppressions, FallBackToTheTargetWithoutANamedFrame) {
    Report report;
    report.fds = {tracked(3, 7, "openat", "file", "/var/lib/app/db")};
    std::string text = render_suggestions(suggest_suppressions(report));
    EXPECT_NE(text.find("  target: /var/lib/app/db\n"), std::string::npos) << text;
}

// ---- hostile files and names (issue 9) --------------------------------------

// The one error line that loading `path` gives, and that it came quickly.
std::string load_error(const std::string& path) {
    auto start = std::chrono::steady_clock::now();
    try {
        load_suppressions(path);
    } catch (const SuppressionError& e) {
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
        EXPECT_EQ(e.errors().size(), 1u) << e.what();
        return e.errors().front();
    }
    return "(no error)";
}

TEST(SuppressionFile, OnlyARegularFileIsRead) {
    std::string dir = testing::TempDir() + "fdtrack_supp_dir";
    std::filesystem::create_directories(dir);
    EXPECT_EQ(load_error(dir), dir + ": cannot read the suppressions file: it is a directory");
    std::string fifo = testing::TempDir() + "fdtrack_supp_fifo";
    unlink(fifo.c_str());
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_EQ(load_error(fifo), fifo + ": cannot read the suppressions file: it is a FIFO, not a regular file");
    unlink(fifo.c_str());
    EXPECT_EQ(load_error("/dev/zero"),
              "/dev/zero: cannot read the suppressions file: it is a character device, not a regular file");
    EXPECT_EQ(load_error("/nonexistent/supp"),
              "/nonexistent/supp: cannot read the suppressions file: No such file or directory");
}

TEST(SuppressionFile, ALargerFileThanAnyRuleSetIsRefused) {
    std::string path = testing::TempDir() + "fdtrack_supp_sparse";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(kMaxSuppressionBytes) + 1), 0);
    close(fd);
    EXPECT_EQ(load_error(path), path + ": cannot read the suppressions file: it is larger than 4 MiB, the limit");
    unlink(path.c_str());
}

TEST(SuppressionFormat, ErrorsAreBoundedInNumberAndLength) {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "bad line\n";
    try {
        parse_suppressions(text, "supp.txt");
        FAIL() << "no error";
    } catch (const SuppressionError& e) {
        ASSERT_EQ(e.errors().size(), kMaxSuppressionErrors + 1);
        EXPECT_EQ(e.errors().back(), "supp.txt: 900 more errors left out");
    }
    std::string long_line = first_error("suppress: x\n  " + std::string(1'000'000, 'k') + "\x1b: v\n");
    EXPECT_LT(long_line.size(), 300u) << long_line;
    EXPECT_EQ(first_error("\x1b[2J oops\n"),
              "supp.txt:1: expected 'suppress: NAME' or 'KEY: VALUE', got '\\e[2J oops'");
}

// A leak whose every name is what a hostile or odd program could choose.
Report odd_names(std::string name) {
    Report report;
    report.pid = 7;
    report.program = name;
    Site site;
    site.id = 1;
    site.count = 1;
    site.call = name;
    site.python = {{name, name, 3}};
    report.sites = {site};
    report.fds = {tracked(3, 1, name, name, name)};
    Site native;
    native.id = 2;
    native.count = 1;
    native.call = "open";
    native.frames = {{name, "/src/x.c", 1, "/usr/bin/app", 0x10}};
    report.sites.push_back(native);
    report.fds.push_back(tracked(4, 2, "open", "file", name));
    Site none;  // no frame: the target names it
    none.id = 3;
    none.count = 1;
    none.call = name;
    report.sites.push_back(none);
    report.fds.push_back(tracked(5, 3, name, "pipe", name));
    report.fds.push_back(tracked(6, 9, "", "", name));  // no site, no call, no kind
    return report;
}

TEST(GeneratedSuppressions, AlwaysParseBackAndSuppressTheirLeaks) {
    for (std::string name : {"/tmp/\x1b[2J\nFAKE: x", " lead and trail\t", "\r\n", "# not a comment", "a\\b*c?[d]",
                             "\xc2\x9b" "csi \xff\xfe bytes", "t\xc3\xa9st \xe2\x9c\x93", " ", "suppress: x"}) {
        Report report = odd_names(name);
        std::string text = render_suggestions(suggest_suppressions(report));
        for (unsigned char c : text) ASSERT_TRUE(c == '\n' || (c >= 0x20 && c != 0x7f)) << int(c) << " in\n" << text;
        std::vector<SuppressionRule> rules;
        ASSERT_NO_THROW(rules = parse_suppressions(text, "generated")) << text;
        EXPECT_EQ(apply_suppressions(rules, report), 4) << text;
    }
}

}  // namespace
}  // namespace fdtrack
