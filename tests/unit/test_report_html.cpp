// Tests of the HTML report's page: the report travels as data no name in it
// can break out of, with what the text report decides about each site, under
// a nonce of its own. How the page draws it is tested in headless Chromium
// (tests/integration/test_html_report.py).
#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "report/report_html.h"
#include "report/report_json.h"
#include "report/report_text.h"

namespace fdtrack {
namespace {

using nlohmann::json;

constexpr const char* kHostile = "</script><script>alert(1)</script><!--<script>";

Report hostile_report() {
    Report report;
    report.pid = 42;
    report.program = std::string("/srv/") + kHostile;
    report.argv = {"python3", kHostile, "</SCRIPT >&amp;"};
    report.trigger = "signal";
    report.time = "2026-11-26T22:31:05Z";
    report.rlimit_nofile = 1024;
    report.open_count = 1;
    Site site;
    site.id = 3;
    site.count = 1;
    site.call = "socketpair";
    site.python = {{"handle", std::string("/srv/app/") + kHostile + ".py", 27}};
    site.frames = {{"socket_socketpair", "", 0, "/usr/lib/python3.11/lib-dynload/_socket.cpython-311-x86_64-linux-gnu.so", 0x1000},
                   {"_PyEval_EvalFrameDefault", "", 0, "/usr/bin/python3.11", 0x2000},
                   {"_PyEval_Vector", "", 0, "/usr/bin/python3.11", 0x3000},
                   {"main", "/src/main.c", 9, "/opt/embedder", 0x4000}};
    site.history = {{1796190000, 0}, {1796190010, 1}};
    report.sites = {site};
    FdEntry fd;
    fd.fd = 7;
    fd.origin = "tracked";
    fd.call = "socketpair";
    fd.kind = "socket";
    fd.target = std::string("/tmp/") + kHostile;
    fd.site = 3;
    report.fds = {fd};
    return report;
}

size_t count(const std::string& text, const std::regex& pattern) {
    return std::distance(std::sregex_iterator(text.begin(), text.end(), pattern), std::sregex_iterator());
}

// The JSON of the page's data block.
json page_data(const std::string& page) {
    const std::string open = "<script type=\"application/json\" id=\"fdtrack-data\">";
    size_t start = page.find(open);
    EXPECT_NE(start, std::string::npos);
    start += open.size();
    return json::parse(page.substr(start, page.find("</script>", start) - start));
}

TEST(ScriptSafeJson, EscapesWhatCouldEndTheScriptElement) {
    std::string text = json({{"name", "</script><!--&x>"}}).dump();
    std::string safe = script_safe_json(text);
    EXPECT_EQ(safe, R"({"name":"\u003c/script\u003e\u003c!--\u0026x\u003e"})");
    EXPECT_EQ(json::parse(safe), json::parse(text));
}

TEST(HtmlReport, NoNameEndsTheDataBlock) {
    Report report = hostile_report();
    std::string page = render_html(report), plain = render_html(Report{});
    // As many script ends, script starts and comment openings as the page of an empty report.
    std::regex end("</script", std::regex::icase), start("<script", std::regex::icase), comment("<!--");
    EXPECT_EQ(count(page, end), count(plain, end));
    EXPECT_EQ(count(page, start), count(plain, start));
    EXPECT_EQ(count(page, comment), count(plain, comment));
    // And the data reads back exactly.
    json data = page_data(page);
    EXPECT_EQ(data["page"], "report");
    EXPECT_EQ(data["report"], json::parse(report_to_json(report)));
}

TEST(HtmlReport, CarriesWhatTheTextReportDecides) {
    Report report = hostile_report();
    json notes = page_data(render_html(report))["sites"]["3"];
    EXPECT_EQ(notes["location"], user_location(report.sites[0], {}));
    EXPECT_EQ(notes["user_frame"], json({{"python", 0}}));
    EXPECT_EQ(notes["growth"]["growing"], true);
    EXPECT_EQ(notes["growth"]["change"], 1);
    EXPECT_DOUBLE_EQ(notes["growth"]["per_minute"].get<double>(), 6.0);
    // The extension module's frame, the interpreter's two folded, the embedder's own frame.
    EXPECT_EQ(notes["native_rows"], json::parse(R"([{"first":0,"count":1,"interpreter":false},
        {"first":1,"count":2,"interpreter":true},{"first":3,"count":1,"interpreter":false}])"));
}

TEST(HtmlReport, EachPageHasItsOwnNonce) {
    std::regex csp("'nonce-([0-9a-f]{32})'");
    std::string first = render_html(Report{}), second = render_html(Report{});
    std::smatch a, b;
    ASSERT_TRUE(std::regex_search(first, a, csp));
    ASSERT_TRUE(std::regex_search(second, b, csp));
    EXPECT_NE(a[1], b[1]);
    // Every script and style element carries it, or the policy would block it.
    std::regex tags("<(script|style)( [^>]*)?>");
    for (auto it = std::sregex_iterator(first.begin(), first.end(), tags); it != std::sregex_iterator(); ++it) {
        std::string tag = it->str();
        if (tag.find("application/json") != std::string::npos) continue;  // data, never run
        EXPECT_NE(tag.find("nonce=\"" + a[1].str() + "\""), std::string::npos) << tag;
    }
    EXPECT_NE(first.find("default-src 'none'"), std::string::npos);
}

TEST(HtmlReport, TheDiffPageHoldsTheDiffAndTheNewerProgram) {
    Report older = hostile_report(), newer = hostile_report();
    older.sites[0].count = 0;
    newer.history_interval_s = 10;
    newer.open_history = {{1796190000, 3}, {1796190010, 4}};
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 1u);
    json data = page_data(render_diff_html(older, newer, grown));
    EXPECT_EQ(data["page"], "diff");
    EXPECT_EQ(data["diff"], json::parse(diff_to_json(older, newer, grown)));
    EXPECT_EQ(data["newer"]["program"], newer.program);
    EXPECT_EQ(data["newer"]["history"]["open_fds"], json::parse("[[1796190000, 3], [1796190010, 4]]"));
    EXPECT_EQ(data["sites"]["3"]["location"], user_location(newer.sites[0], {}));
}

}  // namespace
}  // namespace fdtrack
