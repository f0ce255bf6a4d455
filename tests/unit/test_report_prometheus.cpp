// Tests of the Prometheus exposition: the top sites and "other" add up, the
// series are bounded, and names from the traced program cannot break a line.
#include <gtest/gtest.h>

#include <string>

#include "report/report_prometheus.h"

namespace fdtrack {
namespace {

Site site(int id, int count, int line) {
    Site s;
    s.id = id;
    s.count = count;
    s.call = "openat";
    s.oldest_age_s = count * 1.5;
    s.python = {{"handler", "/srv/app.py", line}};
    return s;
}

Report counts(int pid, std::vector<Site> sites) {
    Report report;
    report.schema = kCountsSchema;
    report.pid = pid;
    report.program = "/usr/bin/python3.11";
    report.rlimit_nofile = 1024;
    for (const Site& s : sites) report.open_count += s.count;
    report.open_count += 3;
    report.sites = std::move(sites);
    return report;
}

const std::string kProcess = "pid=\"42\",program=\"/usr/bin/python3.11\"";

TEST(Prometheus, EachFamilyOnceWithItsSamples) {
    std::string text = exposition_text(process_metrics({counts(42, {site(1, 5, 10)}), counts(43, {})}, 10));
    EXPECT_EQ(text.find("# TYPE fdtrack_open_fds gauge\n"), text.rfind("# TYPE fdtrack_open_fds gauge\n"));
    EXPECT_NE(text.find("fdtrack_open_fds{" + kProcess + "} 8\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fdtrack_open_fds{pid=\"43\",program=\"/usr/bin/python3.11\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("fdtrack_max_fds{" + kProcess + "} 1024\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fdtrack_site_open_fds{" + kProcess +
                        ",site=\"1\",call=\"openat\",location=\"app.py:10 in handler\"} 5\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("fdtrack_site_oldest_fd_age_seconds{" + kProcess +
                        ",site=\"1\",call=\"openat\",location=\"app.py:10 in handler\"} 7.5\n"),
              std::string::npos)
        << text;
}

TEST(Prometheus, TopSitesAndOtherAddUp) {
    Report report = counts(42, {site(1, 2, 10), site(2, 9, 11), site(3, 4, 12), site(4, 0, 13), site(5, 4, 14)});
    std::vector<MetricFamily> families = process_metrics({report}, 2);
    const MetricFamily& sites = families[3];
    ASSERT_EQ(sites.name, "fdtrack_site_open_fds");
    ASSERT_EQ(sites.samples.size(), 3u);  // two sites and "other"
    EXPECT_EQ(sites.samples[0].labels[2].second, "2");
    EXPECT_EQ(sites.samples[0].value, 9);
    EXPECT_EQ(sites.samples[1].labels[2].second, "3");  // ties: the lower id
    EXPECT_EQ(sites.samples[2].labels[2].second, "other");
    EXPECT_EQ(sites.samples[2].value, 4 + 2);
    EXPECT_EQ(families[4].samples[2].value, 4 * 1.5);  // the oldest of the rest
    EXPECT_EQ(families[2].samples[0].value, 4);         // sites with fds open
}

TEST(Prometheus, FdsOpenBeforeAnAttachHaveTheirOwnGauge) {
    Report attached = counts(42, {site(1, 5, 10)});
    attached.open_before_attach = 40;
    std::string text = exposition_text(process_metrics({attached, counts(43, {})}, 10));
    EXPECT_NE(text.find("# TYPE fdtrack_open_fds_before_attach gauge\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fdtrack_open_fds_before_attach{pid=\"42\""), std::string::npos) << text;
    EXPECT_EQ(text.find("fdtrack_open_fds_before_attach{pid=\"43\""), std::string::npos) << text;
    EXPECT_EQ(exposition_text(process_metrics({counts(43, {})}, 10)).find("before_attach"), std::string::npos);
}

TEST(Prometheus, NoTopSitesLeavesOnlyOther) {
    std::vector<MetricFamily> families = process_metrics({counts(42, {site(1, 2, 10), site(2, 3, 11)})}, 0);
    ASSERT_EQ(families[3].samples.size(), 1u);
    EXPECT_EQ(families[3].samples[0].value, 5);
}

TEST(Prometheus, HostileNamesAreEscapedAndStayOnOneLine) {
    Report report = counts(42, {site(1, 1, 10)});
    report.program = "/tmp/a\"b\\c\nd\x1b[2J";
    report.sites[0].python[0].function = "f\"}\n# TYPE x counter";
    std::string text = exposition_text(process_metrics({report}, 10));
    // printable() first (\n and \e spelled out, the backslash doubled), then
    // the format's escapes of backslash and quote.
    EXPECT_NE(text.find("program=\"/tmp/a\\\"b\\\\\\\\c\\\\nd\\\\e[2J\""), std::string::npos) << text;
    EXPECT_NE(text.find("location=\"app.py:10 in f\\\"}\\\\n# TYPE x counter\""), std::string::npos) << text;
    for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
        std::string line = text.substr(start, end - start);
        EXPECT_TRUE(line.rfind("# HELP fdtrack_", 0) == 0 || line.rfind("# TYPE fdtrack_", 0) == 0 ||
                    line.rfind("fdtrack_", 0) == 0)
            << line;
    }
}

TEST(Prometheus, LongValuesAreCutAtACharacterBoundary) {
    Report report = counts(42, {});
    report.program = std::string(kMaxLabelBytes - 4, 'x') + "\xc3\xa9\xc3\xa9\xc3\xa9";  // an é across the cut
    std::string text = exposition_text(process_metrics({report}, 10));
    EXPECT_NE(text.find("program=\"" + std::string(kMaxLabelBytes - 4, 'x') + "...\""), std::string::npos) << text;
}

TEST(Prometheus, NothingForNoProcess) {
    EXPECT_EQ(exposition_text(process_metrics({}, 10)), "");
}

}  // namespace
}  // namespace fdtrack
