// Tests of what `fdtrack top` shows: each site's change per minute (from its
// history, else from what top saw between refreshes), the orders, and the
// plain snapshot.
#include <gtest/gtest.h>

#include <cstdint>

#include "tools/top_table.h"

namespace fdtrack::cli {
namespace {

Site site(int id, int count, std::vector<CountSample> history = {}, double oldest_age_s = 10) {
    Site made;
    made.id = id;
    made.count = count;
    made.call = "openat";
    made.oldest_age_s = oldest_age_s;
    made.python = {{"handler", "/srv/demo/app.py", 40 + id}};
    made.history = std::move(history);
    return made;
}

Report counts(std::vector<Site> sites, int open_count = 0) {
    Report report;
    report.schema = kCountsSchema;
    report.pid = 4242;
    report.program = "/usr/bin/python3.11";
    report.argv = {"python3", "app.py"};
    report.time = "2026-12-02T07:00:00Z";
    report.rlimit_nofile = 1024;
    report.open_count = open_count;
    report.sites = std::move(sites);
    return report;
}

std::vector<int> ids(const std::vector<TopRow>& rows) {
    std::vector<int> out;
    for (const TopRow& row : rows) out.push_back(row.site->id);
    return out;
}

TEST(TopRate, IsTheChangeOverTheLastMinute) {
    // 10 until t=100, then 40, 70 now at 120: the window opens at 60 with 10.
    EXPECT_DOUBLE_EQ(*per_minute_over({{0, 10}, {30, 10}, {100, 40}, {120, 70}}), 60);
    // Shorter than the window: over all of it.
    EXPECT_DOUBLE_EQ(*per_minute_over({{0, 0}, {30, 15}}), 30);
    EXPECT_DOUBLE_EQ(*per_minute_over({{0, 20}, {60, 5}}), -15);
    EXPECT_DOUBLE_EQ(*per_minute_over({{0, 5}, {100, 5}}), 0);
}

TEST(TopRate, NeedsTwoPointsASecondApart) {
    EXPECT_FALSE(per_minute_over({}));
    EXPECT_FALSE(per_minute_over({{5, 3}}));
    EXPECT_FALSE(per_minute_over({{5, 3}, {5.5, 9}}));
}

TEST(TopTable, TakesTheRateFromTheHistory) {
    TopTable table;
    table.update(counts({site(1, 70, {{1000, 10}, {1060, 40}, {1120, 70}}), site(2, 5, {{1000, 5}, {1120, 5}})}),
                 0);
    std::vector<TopRow> rows = table.rows(SortKey::growth);
    ASSERT_EQ(ids(rows), (std::vector<int>{1, 2}));
    EXPECT_DOUBLE_EQ(*rows[0].per_minute, 30);
    EXPECT_DOUBLE_EQ(*rows[1].per_minute, 0);
    EXPECT_EQ(rows[0].where, "app.py:41 in handler");
    EXPECT_EQ(rows[0].call, "openat");
}

TEST(TopTable, WithoutHistoryTakesTheRateBetweenRefreshes) {
    TopTable table;
    table.update(counts({site(1, 5)}, 10), 100);
    EXPECT_FALSE(table.rows(SortKey::growth)[0].per_minute);  // one look says nothing yet
    EXPECT_FALSE(table.open_per_minute());
    // Site 2 was not in the first answer: it had no fd open then.
    table.update(counts({site(1, 7), site(2, 4)}, 18), 102);
    std::vector<TopRow> rows = table.rows(SortKey::growth);
    ASSERT_EQ(ids(rows), (std::vector<int>{2, 1}));
    EXPECT_DOUBLE_EQ(*rows[0].per_minute, 120);
    EXPECT_DOUBLE_EQ(*rows[1].per_minute, 60);
    EXPECT_DOUBLE_EQ(*table.open_per_minute(), 240);
    // What is older than the window is forgotten: 7 held from 102 to 200.
    table.update(counts({site(1, 7)}, 8), 200);
    EXPECT_DOUBLE_EQ(*table.rows(SortKey::growth)[0].per_minute, 0);
    EXPECT_EQ(table.site(2), nullptr);
}

TEST(TopTable, SortsGrowingSitesFirstThenByCount) {
    TopTable table;
    table.update(counts({site(1, 500, {{0, 500}, {60, 500}}),   // large and steady
                         site(2, 20, {{0, 10}, {60, 20}}),      // +10/min
                         site(3, 90, {{0, 30}, {60, 90}}),      // +60/min
                         site(4, 3, {{0, 9}, {60, 3}}),         // shrinking
                         site(5, 500, {{0, 500}, {60, 500}}, 99)}),
                 0);
    EXPECT_EQ(ids(table.rows(SortKey::growth)), (std::vector<int>{3, 2, 1, 5, 4}));
    EXPECT_EQ(ids(table.rows(SortKey::count)), (std::vector<int>{1, 5, 3, 2, 4}));
    EXPECT_EQ(ids(table.rows(SortKey::oldest)), (std::vector<int>{5, 1, 3, 2, 4}));
}

TEST(TopTable, SortKeysCycleBothWays) {
    EXPECT_EQ(next_sort(SortKey::growth), SortKey::count);
    EXPECT_EQ(next_sort(SortKey::oldest), SortKey::growth);
    EXPECT_EQ(previous_sort(SortKey::growth), SortKey::oldest);
    EXPECT_STREQ(sort_name(previous_sort(SortKey::count)), "growth");
}

TEST(TopFormat, RatesAndCounts) {
    EXPECT_EQ(format_rate(std::nullopt), "-");
    EXPECT_EQ(format_rate(0.01), "0");
    EXPECT_EQ(format_rate(12), "+12.0");
    EXPECT_EQ(format_rate(-3.5), "-3.5");
    EXPECT_EQ(format_open_count(523, 1024), "523/1024 (51%)");
    EXPECT_EQ(format_open_count(7, UINT64_MAX), "7/unlimited");
    EXPECT_EQ(format_open_count(7, 0), "7/?");
    EXPECT_FALSE(fraction_of_limit(7, UINT64_MAX));
    EXPECT_DOUBLE_EQ(*fraction_of_limit(2048, 1024), 1);  // a limit lowered below what is open
}

TEST(TopPlain, ShowsTheProcessAndTheSitesInOrder) {
    TopTable table;
    table.update(counts({site(1, 500, {{0, 500}, {60, 500}}), site(2, 20, {{0, 10}, {60, 20}}, 75)}, 530), 0);
    std::string text = render_plain(table, SortKey::growth, true);
    EXPECT_EQ(text,
              "fdtrack top: pid 4242 (/usr/bin/python3.11), 2026-12-02T07:00:00Z\n"
              "  command: python3 app.py\n"
              "  fds: 530/1024 (52%) open, -/min; 2 sites, 1 growing\n"
              "\n"
              " COUNT    Δ/MIN  OLDEST  CALL           WHERE\n"
              "    20    +10.0   1m15s  openat         app.py:42 in handler\n"
              "   500        0   10.0s  openat         app.py:41 in handler\n"
              "\n");
    EXPECT_NE(render_plain(table, SortKey::growth, false).find(" COUNT    D/MIN  OLDEST"), std::string::npos);
    EXPECT_EQ(header_lines(table, 10)[2], "  fds: 530/1024 (52%) open [#####.....], -/min; 2 sites, 1 growing");
}

TEST(TopPlain, SaysHowManyFdsWereOpenBeforeAnAttach) {
    TopTable table;
    Report report = counts({site(1, 5)}, 45);
    report.open_before_attach = 40;
    table.update(report, 0);
    EXPECT_EQ(header_lines(table, 0).back(), "  attached: 40 fds open before fdtrack attach, not counted in any site");
    TopTable preloaded;
    preloaded.update(counts({site(1, 5)}, 45), 0);
    EXPECT_EQ(header_lines(preloaded, 0).size(), 3u);
}

TEST(TopPlain, EscapesWhatTheProgramNamed) {
    TopTable table;
    Report report = counts({site(1, 1)});
    report.program = "/tmp/\x1b[2Jevil";
    report.argv = {"evil", "a\nb"};
    report.sites[0].call = "open\r";
    report.sites[0].python[0].file = "/srv/\x1b]0;x\x07.py";
    table.update(report, 0);
    std::string text = render_plain(table, SortKey::count, true);
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
    EXPECT_NE(text.find("/tmp/\\e[2Jevil"), std::string::npos) << text;
    EXPECT_NE(text.find("command: evil a\\nb"), std::string::npos) << text;
    EXPECT_NE(text.find("open\\r"), std::string::npos) << text;
}

TEST(TopPlain, SaysWhenNoTrackedFdIsOpen) {
    TopTable table;
    table.update(counts({}, 3), 0);
    std::string text = render_plain(table, SortKey::growth, true);
    EXPECT_NE(text.find("0 sites, 0 growing\n\n COUNT"), std::string::npos) << text;
    EXPECT_NE(text.find("WHERE\n(no tracked fd open)\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace fdtrack::cli
