// Tests of `fdtrack diff`: sites are matched by stack, not id, and sorted by growth.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "report/report_diff.h"

namespace fdtrack {
namespace {

Site site(int id, int count, int line, uint64_t address = 0x1000) {
    Site s;
    s.id = id;
    s.count = count;
    s.call = "openat";
    s.frames = {{"open", "", 0, "/lib/x86_64-linux-gnu/libc.so.6", address},
                {"leak", "/src/leaks.c", line, "/usr/local/bin/leaky", address + 0x10}};
    s.python = {{"handler", "/srv/app.py", line}};
    return s;
}

Report report_with(std::vector<Site> sites) {
    Report report;
    report.pid = 42;
    report.trigger = "signal";
    for (const Site& s : sites) report.open_count += s.count;
    report.sites = std::move(sites);
    return report;
}

TEST(Diff, MatchesSitesByStackNotById) {
    // Ids and addresses differ between the reports (another run, ASLR).
    Report older = report_with({site(1, 2, 34, 0x1000), site(2, 9, 40)});
    Report newer = report_with({site(7, 5, 34, 0x7f00000), site(8, 9, 40)});
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_EQ(grown[0].old_count, 2);
    EXPECT_EQ(grown[0].new_count, 5);
    EXPECT_EQ(grown[0].site.id, 7);
}

TEST(Diff, NewSitesCountFromZeroAndShrunkOnesAreLeftOut) {
    Report older = report_with({site(1, 10, 34)});
    Report newer = report_with({site(1, 3, 34), site(2, 4, 35)});
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_EQ(grown[0].old_count, 0);
    EXPECT_EQ(grown[0].new_count, 4);
}

TEST(Diff, PythonStackTellsSitesApart) {
    Site a = site(1, 1, 34);
    Site b = site(2, 1, 34);
    b.python[0].line = 99;
    std::vector<SiteGrowth> grown = diff_reports(report_with({a}), report_with({a, b}));
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_EQ(grown[0].site.id, 2);
}

TEST(Diff, LargestGrowthFirst) {
    Report older = report_with({site(1, 1, 10), site(2, 1, 20), site(3, 1, 30)});
    Report newer = report_with({site(1, 3, 10), site(2, 11, 20), site(3, 6, 30)});
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 3u);
    EXPECT_EQ(grown[0].site.id, 2);
    EXPECT_EQ(grown[1].site.id, 3);
    EXPECT_EQ(grown[2].site.id, 1);
}

TEST(Diff, SitesSharingAStackAreSummed) {
    Report older = report_with({site(1, 2, 34)});
    Report newer = report_with({site(4, 2, 34, 0x2000), site(3, 3, 34, 0x3000)});
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_EQ(grown[0].new_count, 5);
    EXPECT_EQ(grown[0].site.id, 3);
}

TEST(Diff, SaysHowManyFdsWereOpenBeforeAnAttach) {
    Report older = report_with({site(1, 2, 34)});
    Report newer = report_with({site(1, 5, 34)});
    newer.open_before_attach = 40;
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_NE(render_diff_text(older, newer, grown).find("attached: 40 fds open before fdtrack attach in the newer "
                                                         "report, not compared"),
              std::string::npos);
    auto j = nlohmann::json::parse(diff_to_json(older, newer, grown));
    EXPECT_EQ(j["new"]["open_before_attach"], 40);
    EXPECT_FALSE(j["old"].contains("open_before_attach"));
}

TEST(Diff, TextAndJson) {
    Report older = report_with({site(1, 2, 34)});
    Report newer = report_with({site(1, 5, 34)});
    std::vector<SiteGrowth> grown = diff_reports(older, newer);

    std::string text = render_diff_text(older, newer, grown);
    EXPECT_NE(text.find("+3 fds (2 -> 5) from app.py:34 in handler (openat)"), std::string::npos) << text;
    EXPECT_EQ(text.find("different processes"), std::string::npos) << text;
    EXPECT_NE(render_diff_text(older, report_with({}), {}).find("No allocation site grew."), std::string::npos);

    auto j = nlohmann::json::parse(diff_to_json(older, newer, grown));
    EXPECT_EQ(j["schema"], "fdtrack-diff/1");
    ASSERT_EQ(j["grown"].size(), 1u);
    EXPECT_EQ(j["grown"][0]["old_count"], 2);
    EXPECT_EQ(j["grown"][0]["new_count"], 5);
    EXPECT_EQ(j["grown"][0]["growth"], 3);
    EXPECT_EQ(j["grown"][0]["site"]["frames"][1]["line"], 34);
    EXPECT_EQ(j["new"]["open_count"], 5);
}

TEST(Diff, SummedCountsDoNotOverflow) {
    // Two sites with one stack, each at the largest count a report may hold.
    Report older = report_with({site(1, 1, 34)});
    Report newer = report_with({site(4, 2147483647, 34, 0x2000), site(3, 2147483647, 34, 0x3000)});
    std::vector<SiteGrowth> grown = diff_reports(older, newer);
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_EQ(grown[0].new_count, 4294967294);
    std::string text = render_diff_text(older, newer, grown);
    EXPECT_NE(text.find("+4294967293 fds (1 -> 4294967294)"), std::string::npos) << text;
    EXPECT_NE(text.find("Summary: 4294967293 more fds"), std::string::npos) << text;
    auto j = nlohmann::json::parse(diff_to_json(older, newer, grown));
    EXPECT_EQ(j["grown"][0]["growth"], 4294967293);
}

TEST(Diff, NamesFromTheProgramAreEscaped) {
    Site hostile = site(1, 3, 34);
    hostile.call = "open\x1b[2J";
    hostile.python = {{"handler\nFAKE", "/srv/\x1b]0;title\x07.py", 34}};
    Report older = report_with({});
    older.time = "\x1b[31m";
    Report newer = report_with({hostile});
    newer.program = "/bin/\nFAKE";
    std::string text = render_diff_text(older, newer, diff_reports(older, newer));
    for (unsigned char c : text) ASSERT_TRUE(c == '\n' || (c >= 0x20 && c != 0x7f)) << int(c) << " in\n" << text;
    EXPECT_NE(text.find("from \\e]0;title\\x07.py:34 in handler\\nFAKE (open\\e[2J)"), std::string::npos) << text;
}

}  // namespace
}  // namespace fdtrack
