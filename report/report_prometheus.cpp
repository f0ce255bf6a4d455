// Reports as Prometheus metrics in the text exposition format (report_prometheus.h).
#include "report/report_prometheus.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "report/printable.h"
#include "report/report_text.h"

namespace fdtrack {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

Labels process_labels(const Report& report) {
    return {{"pid", std::to_string(report.pid)}, {"program", printable(report.program)}};
}

Labels site_labels(const Report& report, std::string site, std::string call, std::string location) {
    Labels labels = process_labels(report);
    labels.emplace_back("site", std::move(site));
    labels.emplace_back("call", std::move(call));
    labels.emplace_back("location", std::move(location));
    return labels;
}

// The sites with fds open, largest first (ties by id, so the choice of the
// top sites is stable from one scrape to the next).
std::vector<const Site*> sites_by_count(const Report& report) {
    std::vector<const Site*> sites;
    for (const Site& site : report.sites) {
        if (site.count > 0) sites.push_back(&site);
    }
    std::sort(sites.begin(), sites.end(), [](const Site* a, const Site* b) {
        return a->count != b->count ? a->count > b->count : a->id < b->id;
    });
    return sites;
}

// Cut at a character boundary: printable() text is valid UTF-8 and must stay so.
std::string cut(std::string_view value) {
    if (value.size() <= kMaxLabelBytes) return std::string(value);
    size_t end = kMaxLabelBytes - 3;
    while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
    return std::string(value.substr(0, end)) + "...";
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    for (char c : cut(value)) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

}  // namespace

std::vector<MetricFamily> process_metrics(const std::vector<Report>& reports, size_t top_sites) {
    MetricFamily open{"fdtrack_open_fds", "gauge",
                      "Descriptors open in the process that fdtrack knows of (tracked, inherited and open before "
                      "fdtrack attach; not fdtrack's own).",
                      {}};
    // Only for processes fdtrack was attached to: their fds from before the
    // attach are most of fdtrack_open_fds, and none of any site's.
    MetricFamily before_attach{"fdtrack_open_fds_before_attach", "gauge",
                               "Descriptors open before fdtrack attach started tracking the process (never leaks; "
                               "included in fdtrack_open_fds).",
                               {}};
    MetricFamily limit{"fdtrack_max_fds", "gauge", "The process's soft RLIMIT_NOFILE.", {}};
    MetricFamily site_count{"fdtrack_sites", "gauge", "Allocation sites with descriptors open.", {}};
    MetricFamily site_fds{"fdtrack_site_open_fds", "gauge",
                          "Descriptors open from one allocation site, for the largest sites; site=\"other\" sums the "
                          "rest.",
                          {}};
    MetricFamily site_age{"fdtrack_site_oldest_fd_age_seconds", "gauge",
                          "Age of the oldest descriptor open from the site (site=\"other\": of the rest).", {}};
    for (const Report& report : reports) {
        std::vector<const Site*> sites = sites_by_count(report);
        open.samples.push_back({process_labels(report), static_cast<double>(report.open_count)});
        if (report.open_before_attach) {
            before_attach.samples.push_back({process_labels(report), static_cast<double>(*report.open_before_attach)});
        }
        limit.samples.push_back({process_labels(report), static_cast<double>(report.rlimit_nofile)});
        site_count.samples.push_back({process_labels(report), static_cast<double>(sites.size())});
        double other_fds = 0, other_age = 0;
        for (size_t i = 0; i < sites.size(); ++i) {
            const Site& site = *sites[i];
            if (i >= top_sites) {
                other_fds += site.count;
                other_age = std::max(other_age, site.oldest_age_s);
                continue;
            }
            Labels labels = site_labels(report, std::to_string(site.id), printable(site.call),
                                        user_location(site, report.user_paths));
            site_fds.samples.push_back({labels, static_cast<double>(site.count)});
            site_age.samples.push_back({std::move(labels), site.oldest_age_s});
        }
        Labels other = site_labels(report, "other", "", "");
        site_fds.samples.push_back({other, other_fds});
        site_age.samples.push_back({std::move(other), other_age});
    }
    return {std::move(open),     std::move(limit),    std::move(site_count),
            std::move(site_fds), std::move(site_age), std::move(before_attach)};
}

std::string exposition_text(const std::vector<MetricFamily>& families) {
    std::string out;
    for (const MetricFamily& family : families) {
        if (family.samples.empty()) continue;
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, family.help, family.name, family.type);
        for (const MetricSample& sample : family.samples) {
            out += family.name;
            for (size_t i = 0; i < sample.labels.size(); ++i) {
                out += fmt::format("{}{}=\"{}\"", i == 0 ? "{" : ",", sample.labels[i].first,
                                   escape_label_value(sample.labels[i].second));
            }
            out += fmt::format("{} {}\n", sample.labels.empty() ? "" : "}", format_value(sample.value));
        }
    }
    return out;
}

}  // namespace fdtrack
