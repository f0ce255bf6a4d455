// Comparing two reports of one process: which allocation sites hold more
// open fds now than before, matched by their stacks since ids are not stable.
#include "report/report_diff.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report/printable.h"
#include "report/report_json.h"
#include "report/report_text.h"

namespace fdtrack {

namespace {

void append_field(std::string& key, std::string_view field) {
    // Length-prefixed, so no file name or function can fake a boundary.
    key += fmt::format("{}:{};", field.size(), field);
}

// Addresses are left out: they move with ASLR between runs, while function,
// module, file and line name the same code in both.
std::string site_key(const Site& site) {
    std::string key;
    append_field(key, site.call);
    for (const NativeFrame& frame : site.frames) {
        append_field(key, frame.function);
        append_field(key, frame.module);
        append_field(key, frame.file);
        append_field(key, std::to_string(frame.line));
    }
    append_field(key, "python");
    for (const PythonFrame& frame : site.python) {
        append_field(key, frame.function);
        append_field(key, frame.file);
        append_field(key, std::to_string(frame.line));
    }
    return key;
}

struct KeyedSite {
    int64_t count = 0;  // a sum of ints: two sites of INT_MAX must not wrap
    const Site* site = nullptr;  // the lowest id among sites with this stack
};

// Two ids can share a stack once symbolised (e.g. different return addresses
// on the same line), so counts are summed per stack.
std::map<std::string, KeyedSite> sites_by_stack(const Report& report) {
    std::map<std::string, KeyedSite> keyed;
    for (const Site& site : report.sites) {
        KeyedSite& entry = keyed[site_key(site)];
        entry.count += site.count;
        if (!entry.site || site.id < entry.site->id) entry.site = &site;
    }
    return keyed;
}

}  // namespace

std::vector<SiteGrowth> diff_reports(const Report& older, const Report& newer) {
    std::map<std::string, KeyedSite> before = sites_by_stack(older);
    std::vector<SiteGrowth> grown;
    for (const auto& [key, now] : sites_by_stack(newer)) {
        auto it = before.find(key);
        int64_t old_count = it == before.end() ? 0 : it->second.count;
        if (now.count > old_count) grown.push_back({old_count, now.count, *now.site});
    }
    std::sort(grown.begin(), grown.end(), [](const SiteGrowth& a, const SiteGrowth& b) {
        int64_t growth_a = a.new_count - a.old_count, growth_b = b.new_count - b.old_count;
        if (growth_a != growth_b) return growth_a > growth_b;
        if (a.new_count != b.new_count) return a.new_count > b.new_count;
        return a.site.id < b.site.id;
    });
    return grown;
}

std::string render_diff_text(const Report& older, const Report& newer, const std::vector<SiteGrowth>& grown) {
    std::string out;
    out += fmt::format("fdtrack diff: pid {} ({}) {} -> {}: {} -> {} fds open ({:+})\n", newer.pid,
                       newer.program.empty() ? "?" : printable(newer.program),
                       older.time.empty() ? "?" : printable(older.time),
                       newer.time.empty() ? "?" : printable(newer.time), older.open_count, newer.open_count,
                       int64_t{newer.open_count} - older.open_count);
    // Attached: the fds from before the attach belong to no site, so they
    // never grow; said, since they are most of "fds open".
    if (newer.open_before_attach) {
        out += fmt::format("  attached: {} fd{} open before fdtrack attach in the newer report, not compared\n",
                           *newer.open_before_attach, *newer.open_before_attach == 1 ? "" : "s");
    }
    if (older.pid != newer.pid) {
        out += fmt::format("  note: the reports come from different processes (pid {} and pid {})\n", older.pid,
                           newer.pid);
    }
    out += '\n';
    if (grown.empty()) {
        out += "No allocation site grew.\n";
        return out;
    }
    int64_t total = 0;
    for (const SiteGrowth& growth : grown) {
        total += growth.new_count - growth.old_count;
        out += fmt::format("{:+} fds ({} -> {}) from {} ({})  [site {}]\n", growth.new_count - growth.old_count,
                           growth.old_count, growth.new_count, user_location(growth.site, newer.user_paths),
                           printable(growth.site.call), growth.site.id);
        out += render_stacks(growth.site, "  ", 6);
        out += '\n';
    }
    out += fmt::format("Summary: {} more fds open in {} {}.\n", total, grown.size(),
                       grown.size() == 1 ? "site that grew" : "sites that grew");
    return out;
}

std::string diff_to_json(const Report& older, const Report& newer, const std::vector<SiteGrowth>& grown) {
    using nlohmann::ordered_json;
    auto summary = [](const Report& report) {
        ordered_json j;
        j["pid"] = report.pid;
        j["time"] = report.time;
        j["open_count"] = report.open_count;
        if (report.open_before_attach) j["open_before_attach"] = *report.open_before_attach;
        return j;
    };
    ordered_json j;
    j["schema"] = "fdtrack-diff/1";
    j["old"] = summary(older);
    j["new"] = summary(newer);
    j["grown"] = ordered_json::array();
    for (const SiteGrowth& growth : grown) {
        ordered_json entry;
        entry["old_count"] = growth.old_count;
        entry["new_count"] = growth.new_count;
        entry["growth"] = growth.new_count - growth.old_count;
        entry["site"] = site_to_json(growth.site);
        j["grown"].push_back(std::move(entry));
    }
    return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace fdtrack
