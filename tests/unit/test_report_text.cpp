// Tests of the text report: which frame is the user's own, how sites are
// ordered, and what is counted as a leak.
#include <gtest/gtest.h>

#include "report/report_text.h"

namespace fdtrack {
namespace {

NativeFrame native(std::string function, std::string module, std::string file = "", int line = 0) {
    return {std::move(function), std::move(file), line, std::move(module), 0x1000};
}

PythonFrame python(std::string function, std::string file, int line) {
    return {std::move(function), std::move(file), line};
}

TEST(UserLocation, SkipsTheRuntimeUnderAPythonProgram) {
    Site site;
    site.frames = {native("open64", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native("_io_open", "/usr/lib/python3.11/lib-dynload/_io.so"),
                   native("_PyEval_EvalFrameDefault", "/usr/bin/python3.11")};
    site.python = {python("open", "<frozen codecs>", 1),
                   python("urlopen", "/usr/lib/python3.11/urllib/request.py", 216),
                   python("get", "/home/me/venv/lib/python3.11/site-packages/requests/api.py", 73),
                   python("get", "/usr/lib/python3/dist-packages/requests/api.py", 73),
                   python("handle_image", "/srv/app/app.py", 42),
                   python("<module>", "/srv/app/main.py", 3)};
    EXPECT_EQ(user_location(site), "app.py:42 in handle_image");
}

TEST(UserLocation, SkipsLibcAndFdtrackInANativeProgram) {
    Site site;
    site.frames = {native("__open64", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native("fdtrack::hook", "/opt/fdtrack/lib/libfdtrack.so"),
                   native("std::basic_filebuf<char>::open", "/lib/x86_64-linux-gnu/libstdc++.so.6"),
                   native("leak_open", "/usr/local/bin/leaky", "/src/leaks.c", 34),
                   native("main", "/usr/local/bin/leaky", "/src/leaks.c", 50)};
    EXPECT_EQ(user_location(site), "leaks.c:34 in leak_open");
}

TEST(UserLocation, FallsBackToNativeWhenNoPythonFrameIsTheUsers) {
    Site site;
    site.python = {python("run", "/usr/lib/python3.11/runpy.py", 86)};
    site.frames = {native("open", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native("PyRun_SimpleString", "/lib/x86_64-linux-gnu/libpython3.11.so.1.0"),
                   native("embed_main", "/opt/app/embedder")};
    EXPECT_EQ(user_location(site), "embed_main in embedder");
}

TEST(UserLocation, CodeFromDashCIsTheUsers) {
    Site site;
    site.python = {python("<module>", "<string>", 1)};
    EXPECT_EQ(user_location(site), "<string>:1 in <module>");
}

TEST(UserLocation, InnermostFrameWhenNothingIsTheUsers) {
    Site site;
    site.frames = {native("", "/lib/x86_64-linux-gnu/libc.so.6"), native("__libc_start_main", "/lib/libc.so.6")};
    EXPECT_EQ(user_location(site), "0x1000 in libc.so.6");
    EXPECT_EQ(user_location(Site{}), "an unknown location");
}

FdEntry tracked(int fd, int site, std::string target, double age = 1.0) {
    FdEntry entry;
    entry.fd = fd;
    entry.origin = "tracked";
    entry.call = "openat";
    entry.kind = "file";
    entry.target = std::move(target);
    entry.age_s = age;
    entry.site = site;
    return entry;
}

Site leaky_site(int id, int count, std::string function, int line) {
    Site site;
    site.id = id;
    site.count = count;
    site.call = "openat";
    site.frames = {native("open", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native(std::move(function), "/usr/local/bin/leaky", "/src/leaks.c", line)};
    return site;
}

// Site 2 holds one fd, sites 5 and 3 two each: 3 and 5 tie and go by id.
Report exit_report() {
    Report report;
    report.pid = 77;
    report.program = "/usr/local/bin/leaky";
    report.argv = {"leaky", "5"};
    report.trigger = "exit";
    report.rlimit_nofile = 1024;
    report.open_count = 11;
    report.sites = {leaky_site(2, 1, "leak_one", 10), leaky_site(5, 2, "leak_five", 50),
                    leaky_site(3, 2, "leak_three", 30)};
    report.fds.push_back(tracked(12, 5, "/tmp/five-b", 0.5));
    report.fds.push_back(tracked(11, 5, "/tmp/five-a", 2.0));
    report.fds.push_back(tracked(9, 3, "/tmp/three-a"));
    report.fds.push_back(tracked(10, 3, "/tmp/three-b"));
    report.fds.push_back(tracked(8, 2, "/tmp/one"));

    FdEntry suppressed = tracked(13, 2, "/tmp/suppressed");
    suppressed.suppressed = true;
    report.fds.push_back(suppressed);
    FdEntry stdin_again = tracked(0, 2, "/dev/null");  // a reopened stdin is no leak
    report.fds.push_back(stdin_again);
    for (int fd : {1, 2, 4}) {
        FdEntry inherited;
        inherited.fd = fd;
        inherited.origin = "inherited";
        inherited.kind = "chr";
        inherited.target = "/dev/pts/1";
        report.fds.push_back(inherited);
    }
    FdEntry unknown;
    unknown.fd = 6;
    unknown.origin = "unknown";
    unknown.kind = "pipe";
    report.fds.push_back(unknown);
    return report;
}

TEST(RenderText, GroupsBySiteLargestFirstTiesById) {
    std::string text = render_text(exit_report());
    size_t three = text.find("2 fds leaked from leaks.c:30 in leak_three");
    size_t five = text.find("2 fds leaked from leaks.c:50 in leak_five");
    size_t one = text.find("1 fd leaked from leaks.c:10 in leak_one");
    ASSERT_NE(three, std::string::npos) << text;
    ASSERT_NE(five, std::string::npos) << text;
    ASSERT_NE(one, std::string::npos) << text;
    EXPECT_LT(three, five);
    EXPECT_LT(five, one);
}

TEST(RenderText, CountsOnlyLeaks) {
    std::string text = render_text(exit_report());
    EXPECT_NE(text.find("pid 77"), std::string::npos) << text;
    EXPECT_NE(text.find("11/1024 fds open, 5 leaked from 3 sites"), std::string::npos) << text;
    EXPECT_NE(text.find("Suppressed: 1 fd (13)"), std::string::npos) << text;
    EXPECT_NE(text.find("standard streams 0-2; inherited 4; creation not seen 6"), std::string::npos) << text;
    EXPECT_EQ(text.find("/tmp/suppressed"), std::string::npos) << text;
}

TEST(RenderText, ShowsExamplesAndStacks) {
    std::string text = render_text(exit_report());
    EXPECT_NE(text.find("fd 11  file  2.0s  /tmp/five-a"), std::string::npos) << text;
    EXPECT_NE(text.find("fd 12  file  0.5s  /tmp/five-b"), std::string::npos) << text;
    EXPECT_LT(text.find("/tmp/five-a"), text.find("/tmp/five-b"));
    EXPECT_NE(text.find("leak_five (/src/leaks.c:50)"), std::string::npos) << text;
    EXPECT_NE(text.find("open (in /lib/x86_64-linux-gnu/libc.so.6)"), std::string::npos) << text;
}

TEST(RenderText, ShowsFlagsThreadAndTheAgesOfASite) {
    Report report = exit_report();
    for (FdEntry& fd : report.fds) {
        if (fd.fd == 11) {
            fd.cloexec = fd.nonblock = true;
            fd.tid = 4321;
            fd.thread = "worker";
        }
    }
    for (Site& site : report.sites) {
        if (site.id == 5) site.oldest_age_s = 2.0, site.newest_age_s = 0.5;
    }
    std::string text = render_text(report);
    EXPECT_NE(text.find("/tmp/five-a  [cloexec,nonblock]  thread 4321 worker"), std::string::npos) << text;
    EXPECT_NE(text.find("oldest 2.0s, newest 0.5s"), std::string::npos) << text;
}

TEST(RenderText, DoesNotDependOnTheOrderOfFds) {
    Report report = exit_report();
    std::string text = render_text(report);
    std::reverse(report.fds.begin(), report.fds.end());
    EXPECT_EQ(render_text(report), text);
}

TEST(RenderText, SaysSoWhenThereIsNoLeak) {
    Report report = exit_report();
    for (FdEntry& fd : report.fds) fd.suppressed = true;
    std::string text = render_text(report);
    EXPECT_NE(text.find("0 leaked from 0 sites"), std::string::npos) << text;
    EXPECT_NE(text.find("No leaks."), std::string::npos) << text;
}

TEST(RenderText, ListsBadCloses) {
    Report report = exit_report();
    report.bad_closes.push_back({9, "double_close", 3, 5, std::nullopt});
    std::string text = render_text(report);
    EXPECT_NE(text.find("fd 9 closed twice at leaks.c:30 in leak_three; closed before at leaks.c:50 in leak_five"),
              std::string::npos)
        << text;
}

TEST(TopSiteSummary, NamesTheBiggestSite) {
    Report report = exit_report();
    EXPECT_EQ(top_site_summary(report),
              "fdtrack: 2 fds open from leaks.c:30 in leak_three (openat); 3 more from 2 other sites");
    report.fds.push_back(tracked(20, 2, "/tmp/one-more"));
    report.fds.push_back(tracked(21, 2, "/tmp/one-more"));
    EXPECT_EQ(top_site_summary(report),
              "fdtrack: 3 fds open from leaks.c:10 in leak_one (openat); 4 more from 2 other sites");
}

TEST(FormatAge, ReadsLikeADuration) {
    EXPECT_EQ(format_age(0.04), "0.0s");
    EXPECT_EQ(format_age(12.5), "12.5s");
    EXPECT_EQ(format_age(187), "3m07s");
    EXPECT_EQ(format_age(7500), "2h05m");
}

}  // namespace
}  // namespace fdtrack
