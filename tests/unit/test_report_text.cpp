// Tests of the text report: which frame is the user's own, how sites are
// ordered, what is counted as a leak, how stacks read and how exit states show.
#include <gtest/gtest.h>

#include <limits>

#include <fmt/format.h>

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
    EXPECT_EQ(user_location(site, {}), "app.py:42 in handle_image");
}

TEST(UserLocation, SkipsLibcAndFdtrackInANativeProgram) {
    Site site;
    site.frames = {native("__open64", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native("fdtrack::hook", "/opt/fdtrack/lib/libfdtrack.so"),
                   native("std::basic_filebuf<char>::open", "/lib/x86_64-linux-gnu/libstdc++.so.6"),
                   native("leak_open", "/usr/local/bin/leaky", "/src/leaks.c", 34),
                   native("main", "/usr/local/bin/leaky", "/src/leaks.c", 50)};
    EXPECT_EQ(user_location(site, {}), "leaks.c:34 in leak_open");
}

TEST(UserLocation, FallsBackToNativeWhenNoPythonFrameIsTheUsers) {
    Site site;
    site.python = {python("run", "/usr/lib/python3.11/runpy.py", 86)};
    site.frames = {native("open", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native("PyRun_SimpleString", "/lib/x86_64-linux-gnu/libpython3.11.so.1.0"),
                   native("embed_main", "/opt/app/embedder")};
    EXPECT_EQ(user_location(site, {}), "embed_main in embedder");
}

TEST(UserLocation, CodeFromDashCIsTheUsers) {
    Site site;
    site.python = {python("<module>", "<string>", 1)};
    EXPECT_EQ(user_location(site, {}), "<string>:1 in <module>");
}

// The headline of a site with only these Python frames.
std::string headline(std::vector<PythonFrame> stack, const std::vector<std::string>& user_paths = {}) {
    Site site;
    site.python = std::move(stack);
    return user_location(site, user_paths);
}

// Under gunicorn every site's headline used to be "gunicorn:8 in <module>".
TEST(UserLocation, SkipsAConsoleScriptLauncher) {
    const std::string packages = "/srv/venv/lib/python3.11/site-packages/";
    PythonFrame sync = python("handle_request", packages + "gunicorn/workers/sync.py", 136),
                base = python("run", packages + "gunicorn/app/base.py", 72),
                launcher = python("<module>", "/srv/venv/bin/gunicorn", 8);
    EXPECT_EQ(headline({python("socket.__init__", "/usr/lib/python3.11/socket.py", 232),
                        python("connect", "/srv/app/db.py", 17), sync, base, launcher}),
              "db.py:17 in connect");
    // gunicorn's own fds: its innermost frame says more than the launcher.
    EXPECT_EQ(headline({sync, base, launcher}), "sync.py:136 in handle_request");
}

TEST(UserLocation, ALauncherBeatsTheStandardLibraryAndOnlyItsModuleCodeIsOne) {
    EXPECT_EQ(headline({python("socket.__init__", "/usr/lib/python3.11/socket.py", 232),
                        python("<module>", "/home/me/.local/bin/fetch", 5)}),
              "fetch:5 in <module>");
    // A function in the user's own ~/bin script is the user's code.
    EXPECT_EQ(headline({python("get", "/usr/lib/python3/dist-packages/requests/api.py", 73),
                        python("fetch_all", "/home/me/bin/tool.py", 12),
                        python("<module>", "/home/me/bin/tool.py", 30)}),
              "tool.py:12 in fetch_all");
}

TEST(UserLocation, SkipsFrozenModulesRunpyAndImportlib) {
    std::vector<PythonFrame> stack = {python("open", "/usr/lib/python3.11/tempfile.py", 357),
                                      python("<module>", "/srv/app/config.py", 4),
                                      python("_call_with_frames_removed", "<frozen importlib._bootstrap>", 241),
                                      python("import_module", "/usr/lib/python3.11/importlib/__init__.py", 126),
                                      python("_run_code", "<frozen runpy>", 88),
                                      python("_run_module_as_main", "/usr/lib/python3.11/runpy.py", 198)};
    EXPECT_EQ(headline(stack), "config.py:4 in <module>");
    stack.erase(stack.begin() + 1);
    EXPECT_EQ(headline(stack), "tempfile.py:357 in open") << "no user frame: the innermost";
}

TEST(UserLocation, GeneratedCodeLosesToARealFile) {
    // A dataclass __init__ (exec'd as <string>) calling the user's factory.
    EXPECT_EQ(headline({python("<lambda>", "<string>", 3), python("load", "/srv/app/models.py", 40)}),
              "models.py:40 in load");
}

TEST(UserLocation, StandardLibraryIsJudgedByWholeDirectories) {
    EXPECT_EQ(headline({python("open", "/usr/lib64/python3.11/tempfile.py", 357),
                        python("fetch", "/home/me/lib/python3-tools/fetch.py", 9)}),
              "fetch.py:9 in fetch");
    EXPECT_EQ(headline({python("open", "/opt/py/lib/python311.zip/tempfile.py", 357),
                        python("copy", "/opt/py/lib/python3.13t/shutil.py", 20),
                        python("main", "/srv/app/main.py", 3)}),
              "main.py:3 in main");
}

TEST(UserLocation, UserPathsSayExactlyWhichCodeIsTheUsers) {
    const std::string mylib = "/srv/venv/lib/python3.11/site-packages/mylib";
    std::vector<PythonFrame> stack = {python("connect", mylib + "/db.py", 17), python("handle", "/srv/app/app.py", 42),
                                      python("<module>", "/srv/venv/bin/serve", 8)};
    EXPECT_EQ(headline(stack), "app.py:42 in handle");
    EXPECT_EQ(headline(stack, {mylib}), "db.py:17 in connect") << "even inside site-packages";
    EXPECT_EQ(headline(stack, {"/srv/venv/bin/"}), "serve:8 in <module>") << "even a launcher";
    EXPECT_EQ(headline(stack, {"/opt/elsewhere", "/srv/app"}), "app.py:42 in handle");
    // A prefix is a directory, not a string prefix.
    EXPECT_EQ(headline(stack, {"/srv/ap"}), "app.py:42 in handle") << "no frame listed: the best guess";
    stack.push_back(python("main", "/srv/application/main.py", 3));
    EXPECT_EQ(headline(stack, {"/srv/application"}), "main.py:3 in main");
}

TEST(UserLocation, UserPathsCoverNativeFramesByFileOrModule) {
    Site site;
    site.frames = {native("open64", "/lib/x86_64-linux-gnu/libc.so.6"),
                   native("sqlite3_open", "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0"),
                   native("open_db", "/srv/app/bin/app", "/build/src/db.c", 12)};
    EXPECT_EQ(user_location(site, {}), "sqlite3_open in libsqlite3.so.0") << "fdtrack's guess";
    EXPECT_EQ(user_location(site, {"/srv/app"}), "db.c:12 in open_db") << "by module";
    EXPECT_EQ(user_location(site, {"/build/src"}), "db.c:12 in open_db") << "by source file";
}

TEST(UserLocation, InnermostFrameWhenNothingIsTheUsers) {
    Site site;
    site.frames = {native("", "/lib/x86_64-linux-gnu/libc.so.6"), native("__libc_start_main", "/lib/libc.so.6")};
    EXPECT_EQ(user_location(site, {}), "0x1000 in libc.so.6");
    EXPECT_EQ(user_location(Site{}, {}), "an unknown location");
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

TEST(RenderText, ListsFdsOpenBeforeAnAttachApart) {
    Report report = exit_report();
    for (int fd : {20, 21, 22, 30}) {
        FdEntry before;
        before.fd = fd;
        before.origin = "before_attach";
        before.kind = "file";
        report.fds.push_back(before);
    }
    report.open_before_attach = 4;
    std::string text = render_text(report);
    EXPECT_NE(text.find("  attached: tracked since fdtrack attach; 4 fds open before it, not counted\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("Open before attach (not counted): 4 fds (20-22, 30)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("11/1024 fds open, 5 leaked from 3 sites"), std::string::npos) << text;  // not leaks
    EXPECT_NE(text.find("Suppressed: 1 fd (13)\n"), std::string::npos) << text;
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

// One Python site with leaks at two Python lines of the user's: the report's
// user_paths decide which one every place of the text names.
Report python_report() {
    Report report;
    report.pid = 9;
    report.trigger = "exit";
    Site site;
    site.id = 1;
    site.call = "pipe2";
    site.python = {python("make", "/srv/venv/lib/python3.11/site-packages/mylib/pool.py", 5),
                   python("start", "/srv/app/app.py", 7)};
    site.frames = {native("os_pipe", "/usr/bin/python3.11")};
    report.sites = {site};
    report.fds = {tracked(3, 1, "pipe:[1]"), tracked(4, 1, "pipe:[1]")};
    report.bad_closes.push_back({3, "double_close", 1, 1, std::nullopt});
    return report;
}

TEST(RenderText, EveryPlaceNamesTheFrameUnderTheReportsUserPaths) {
    Report report = python_report();
    std::string guessed = render_text(report);
    EXPECT_NE(guessed.find("2 fds leaked from app.py:7 in start (pipe2, file)"), std::string::npos) << guessed;
    EXPECT_EQ(guessed.find("user code under"), std::string::npos) << guessed;

    report.user_paths = {"/srv/venv/lib/python3.11/site-packages/mylib"};
    std::string text = render_text(report);
    EXPECT_NE(text.find("  user code under: /srv/venv/lib/python3.11/site-packages/mylib\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("2 fds leaked from pool.py:5 in make (pipe2, file)"), std::string::npos) << text;
    EXPECT_NE(text.find("fd 3 closed twice at pool.py:5 in make"), std::string::npos) << text;
    EXPECT_NE(text.find("the biggest is pool.py:5 in make."), std::string::npos) << text;
    EXPECT_EQ(text.find("app.py:7 in start"), std::string::npos) << text;
    EXPECT_EQ(top_site_summary(report), "fdtrack: 2 fds open from pool.py:5 in make (pipe2)");
}

// A native stack as pyenv's CPython 3.11 (libpython3.11.so) records it under
// socket.socket(): the extension module, 15 interpreter frames, libc, _start.
Site socket_site(std::string interpreter) {
    Site site;
    site.id = 1;
    site.call = "socket";
    site.python = {python("socket.__init__", "/usr/lib/python3.11/socket.py", 232)};
    const std::string extension = "/opt/py/lib/python3.11/lib-dynload/_socket.cpython-311-x86_64-linux-gnu.so";
    site.frames = {native("sock_initobj_impl", extension, "Modules/socketmodule.c", 5366),
                   native("sock_initobj", extension)};
    for (int i = 0; i < 15; ++i) site.frames.push_back(native(fmt::format("_PyEval_Frame{}", i), interpreter));
    site.frames.push_back(native("__libc_start_main", "/lib/x86_64-linux-gnu/libc.so.6"));
    site.frames.push_back(native("_start", "/opt/py/bin/python3.11"));
    return site;
}

TEST(RenderStacks, FoldsTheInterpretersFramesUnderAPythonSite) {
    std::string text = render_stacks(socket_site("/opt/py/lib/libpython3.11.so.1.0"), "");
    EXPECT_NE(text.find("  ... 15 interpreter frames (libpython3.11.so.1.0)\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("_PyEval_Frame"), std::string::npos) << text;
    // Extension modules and other libraries stay, and keep their numbers.
    EXPECT_NE(text.find("#0  0x000000001000 sock_initobj_impl (Modules/socketmodule.c:5366)"), std::string::npos)
        << text;
    EXPECT_NE(text.find("#1  0x000000001000 sock_initobj (in /opt/py/lib/python3.11/lib-dynload/"), std::string::npos)
        << text;
    EXPECT_NE(text.find("#17 0x000000001000 __libc_start_main"), std::string::npos) << text;
    // One interpreter frame alone says more than a fold line would.
    EXPECT_NE(text.find("#18 0x000000001000 _start (in /opt/py/bin/python3.11)"), std::string::npos) << text;
}

TEST(RenderStacks, FoldsAStaticallyLinkedInterpreter) {
    // Debian's python3.11 holds libpython, and builtin modules too.
    std::string text = render_stacks(socket_site("/usr/bin/python3.11"), "");
    EXPECT_NE(text.find("  ... 15 interpreter frames (python3.11)\n"), std::string::npos) << text;

    Site site = socket_site("/opt/py/lib/libpython3.11.so.1.0");
    site.frames.erase(site.frames.end() - 2);  // libc: _start now follows libpython
    text = render_stacks(site, "");
    EXPECT_NE(text.find("  ... 16 interpreter frames (libpython3.11.so.1.0, python3.11)\n"), std::string::npos)
        << text;
}

TEST(RenderStacks, KeepsEveryFrameOfASiteWithoutPythonFrames) {
    Site site = socket_site("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0");
    site.python.clear();  // an embedding program, or --no-python
    std::string text = render_stacks(site, "");
    EXPECT_EQ(text.find("interpreter frames"), std::string::npos) << text;
    EXPECT_NE(text.find("_PyEval_Frame14"), std::string::npos) << text;
}

TEST(RenderStacks, TheLimitCountsLinesAndTheRestCountsFrames) {
    std::string text = render_stacks(socket_site("/usr/bin/python3.11"), "", 3);
    EXPECT_NE(text.find("  ... 15 interpreter frames (python3.11)\n  ... 2 more\n"), std::string::npos) << text;
}

// Site 5's two fds stayed open after shutdown; site 3's were closed by it;
// site 2 has one of each.
Report exit_states_report() {
    Report report = exit_report();
    for (FdEntry& fd : report.fds) {
        if (fd.fd == 11 || fd.fd == 12 || fd.fd == 6) fd.at_exit = kNeverClosed;
        if (fd.fd == 9 || fd.fd == 10 || fd.fd == 13) fd.at_exit = kHeldUntilExit;
    }
    report.fds.push_back(tracked(14, 2, "/tmp/one-never"));
    report.fds.back().at_exit = kNeverClosed;
    for (FdEntry& fd : report.fds) {
        if (fd.fd == 8) fd.at_exit = kHeldUntilExit;
    }
    return report;
}

TEST(RenderText, ExitStatesSplitTheLeaksNeverClosedFirst) {
    std::string text = render_text(exit_states_report());
    size_t never = text.find("Never closed: 3 fds from 2 sites, still open after interpreter shutdown\n");
    size_t five = text.find("2 fds leaked from leaks.c:50 in leak_five");
    size_t one_never = text.find("1 fd leaked from leaks.c:10 in leak_one (openat, file)  [site 2]\n    fd 14");
    size_t held = text.find("Held until exit: 3 fds from 2 sites, closed only by interpreter shutdown");
    size_t three = text.find("2 fds leaked from leaks.c:30 in leak_three");
    size_t one_held = text.find("1 fd leaked from leaks.c:10 in leak_one (openat, file)  [site 2]\n    fd 8");
    ASSERT_NE(never, std::string::npos) << text;
    ASSERT_NE(held, std::string::npos) << text;
    EXPECT_LT(never, five);
    EXPECT_LT(five, one_never);
    EXPECT_LT(one_never, held);
    EXPECT_LT(held, three);
    EXPECT_LT(three, one_held);
    EXPECT_NE(one_held, std::string::npos) << text;
    EXPECT_NE(text.find("Summary: 6 fds leaked from 3 sites (3 never closed, 3 held until exit); the biggest is"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("Exit state not recorded"), std::string::npos) << text;
}

TEST(RenderText, NoExitStatesNoSections) {
    std::string text = render_text(exit_report());
    EXPECT_EQ(text.find("Never closed"), std::string::npos) << text;
    EXPECT_EQ(text.find("Held until exit"), std::string::npos) << text;
    EXPECT_NE(text.find("Summary: 5 fds leaked from 3 sites; the biggest"), std::string::npos) << text;
}

TEST(RenderText, LeaksWithoutAnExitStateAreSaidSo) {
    Report report = exit_report();
    for (FdEntry& fd : report.fds) {
        if (fd.fd == 11) fd.at_exit = kHeldUntilExit;
    }
    std::string text = render_text(report);
    EXPECT_NE(text.find("Held until exit: 1 fd from 1 site"), std::string::npos) << text;
    EXPECT_NE(text.find("Exit state not recorded: 4 fds from 3 sites\n"), std::string::npos) << text;
    EXPECT_NE(text.find("(1 held until exit, 4 not recorded)"), std::string::npos) << text;
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

// ---- names from a hostile program (issue 9) ---------------------------------

constexpr const char* kPoison = "\x1b[2J\nFAKE fdtrack: No leaks.\x07\xc2\x9b\xff";

// exit_report() with every string a program or a report file controls set to kPoison.
Report poisoned_report() {
    Report report = exit_report();
    report.program = kPoison;
    report.argv = {kPoison, kPoison};
    report.time = kPoison;
    report.user_paths = {kPoison};
    for (FdEntry& fd : report.fds) {
        fd.call = fd.kind = fd.target = fd.state = fd.thread = kPoison;
        fd.tid = 5;
    }
    for (Site& site : report.sites) {
        site.call = kPoison;
        for (NativeFrame& frame : site.frames) frame.function = frame.file = frame.module = kPoison;
        site.python = {python(kPoison, kPoison, 1)};
    }
    report.bad_closes.push_back({9, kPoison, 2, 3, 5});
    return report;
}

// No byte a terminal would act on, and no line a program could have forged.
void expect_safe_to_print(const std::string& text) {
    for (unsigned char c : text) ASSERT_TRUE(c == '\n' || (c >= 0x20 && c != 0x7f)) << int(c) << " in\n" << text;
    ASSERT_EQ(text.find("\xc2\x9b"), std::string::npos) << text;
    ASSERT_EQ(text.find("\nFAKE"), std::string::npos) << text;
}

TEST(RenderText, NamesFromTheProgramAreEscaped) {
    Report report = poisoned_report();
    std::string text = render_text(report);
    expect_safe_to_print(text);
    EXPECT_NE(text.find("\\e[2J\\nFAKE fdtrack: No leaks.\\x07\\xc2\\x9b\\xff"), std::string::npos) << text;
    report.trigger = kPoison;  // a dump, and a trigger named by the file
    expect_safe_to_print(render_text(report));
    expect_safe_to_print(top_site_summary(report) + "\n");
    expect_safe_to_print(render_stacks(report.sites[0], "  "));
}

TEST(RenderText, AFileNamedLikeAReportLineStaysOnItsLine) {
    Report report = exit_report();
    report.fds[0].target = "/tmp/x\x1b[2J\nFAKE fdtrack: No leaks.";
    std::string text = render_text(report);
    EXPECT_NE(text.find("  /tmp/x\\e[2J\\nFAKE fdtrack: No leaks.\n"), std::string::npos) << text;
    expect_safe_to_print(text);
}

TEST(FormatAge, AnyDoubleGivesAnAnswer) {
    EXPECT_EQ(format_age(-3), "0.0s");
    EXPECT_EQ(format_age(std::numeric_limits<double>::quiet_NaN()), "0.0s");
    EXPECT_EQ(format_age(1e10), "2777777h46m");
    EXPECT_EQ(format_age(1e308), "2.78e+304h");  // the reader refuses it; no undefined cast here
}

TEST(RenderText, FdRangesReachTheLargestFd) {
    Report report = exit_report();
    report.fds.push_back(tracked(2147483647, 2, "/tmp/max"));
    report.fds.back().suppressed = true;
    std::string text = render_text(report);
    EXPECT_NE(text.find("Suppressed: 2 fds (13, 2147483647)"), std::string::npos) << text;
}

}  // namespace
}  // namespace fdtrack
