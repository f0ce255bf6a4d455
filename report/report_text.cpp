// The human-readable report: leaks grouped by allocation site, biggest first,
// each with its examples, the user's own frame and the stacks.
#include "report/report_text.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "report/growth.h"
#include "report/printable.h"
#include "report/user_code.h"

namespace fdtrack {

namespace {

constexpr size_t kExampleFds = 5;

std::string_view basename(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Every name below comes from the traced program (paths, functions, argv,
// thread names) or from a report file, and goes through printable(): a file
// named "\x1b[2J\nFAKE fdtrack: No leaks." must not clear the screen or
// forge a line (issue 9).
std::string python_location(const PythonFrame& frame) {
    return fmt::format("{}:{} in {}", printable(basename(frame.file)), frame.line, printable(frame.function));
}

std::string native_location(const NativeFrame& frame) {
    if (!frame.file.empty()) {
        std::string file = printable(basename(frame.file));
        std::string where = frame.line > 0 ? fmt::format("{}:{}", file, frame.line) : file;
        return frame.function.empty() ? where : fmt::format("{} in {}", where, printable(frame.function));
    }
    if (!frame.function.empty()) {
        return fmt::format("{} in {}", printable(frame.function), printable(basename(frame.module)));
    }
    return fmt::format("0x{:x} in {}", frame.address, printable(basename(frame.module)));
}

std::string plural(size_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

// "0-2, 5, 9-11": fds are usually allocated consecutively, so ranges keep
// the line short.
std::string fd_ranges(std::vector<int> fds) {
    std::sort(fds.begin(), fds.end());
    std::string out;
    for (size_t i = 0; i < fds.size();) {
        size_t j = i;
        while (j + 1 < fds.size() && fds[j + 1] - 1 == fds[j]) ++j;  // no overflow at INT_MAX
        if (!out.empty()) out += ", ";
        out += j > i ? fmt::format("{}-{}", fds[i], fds[j]) : fmt::format("{}", fds[i]);
        i = j + 1;
    }
    return out;
}

std::string format_limit(uint64_t rlimit) {
    // RLIM_INFINITY, and 0 when the writer could not read the limit.
    if (rlimit == UINT64_MAX) return "unlimited";
    if (rlimit == 0) return "?";
    return fmt::format("{}", rlimit);
}

// The counted fds of one site: leaks in an exit report, open tracked fds in a
// dump. `site` is null when the report names a site id it does not list.
struct SiteGroup {
    int site_id = -1;
    const Site* site = nullptr;
    std::vector<const FdEntry*> fds;
};

// The groups of the counted fds that `keep` accepts (all when null).
std::vector<SiteGroup> group_by_site(const Report& report, const std::function<bool(const FdEntry&)>& keep = {}) {
    std::map<int, const Site*> sites;
    for (const Site& site : report.sites) sites.emplace(site.id, &site);

    std::map<int, SiteGroup> groups;
    for (const FdEntry& fd : report.fds) {
        if (!is_leak(fd) || (keep && !keep(fd))) continue;
        int id = fd.site.value_or(-1);
        SiteGroup& group = groups[id];
        group.site_id = id;
        if (auto it = sites.find(id); it != sites.end()) group.site = it->second;
        group.fds.push_back(&fd);
    }

    std::vector<SiteGroup> sorted;
    for (auto& [id, group] : groups) {
        std::sort(group.fds.begin(), group.fds.end(),
                  [](const FdEntry* a, const FdEntry* b) { return a->fd < b->fd; });
        sorted.push_back(std::move(group));
    }
    // Growing sites first, the fastest first (a leak is a site that keeps
    // growing); then by size. Ties go by site id, so the same report always
    // renders the same way.
    auto growth = [](const SiteGroup& g) { return g.site ? growth_of(g.site->history) : Growth{}; };
    std::stable_sort(sorted.begin(), sorted.end(), [&](const SiteGroup& a, const SiteGroup& b) {
        Growth ga = growth(a), gb = growth(b);
        if (ga.growing != gb.growing) return ga.growing;
        if (ga.growing && ga.per_minute != gb.per_minute) return ga.per_minute > gb.per_minute;
        return a.fds.size() > b.fds.size();
    });
    return sorted;
}

std::string group_location(const SiteGroup& group, const std::vector<std::string>& user_paths) {
    if (!group.site) {
        return group.site_id < 0 ? "an unrecorded stack" : fmt::format("unknown site {}", group.site_id);
    }
    return user_location(*group.site, user_paths);
}

std::string group_call(const SiteGroup& group) {
    if (group.site && !group.site->call.empty()) return printable(group.site->call);
    return group.fds.front()->call.empty() ? "?" : printable(group.fds.front()->call);
}

std::string group_kinds(const SiteGroup& group) {
    std::set<std::string> kinds;
    for (const FdEntry* fd : group.fds) kinds.insert(fd->kind.empty() ? "?" : printable(fd->kind));
    return fmt::format("{}", fmt::join(kinds, ", "));
}

void render_group(std::string& out, const SiteGroup& group, bool exit_report,
                  const std::vector<std::string>& user_paths) {
    // "(openat, file)", but "(socket)" rather than "(socket, socket)".
    std::string call = group_call(group), kinds = group_kinds(group);
    out += fmt::format("{} {} from {} ({})", plural(group.fds.size(), "fd", "fds"), exit_report ? "leaked" : "open",
                       group_location(group, user_paths), call == kinds ? call : fmt::format("{}, {}", call, kinds));
    if (group.site_id >= 0) out += fmt::format("  [site {}]", group.site_id);
    out += '\n';
    std::string grew = group.site ? describe_growth(growth_of(group.site->history)) : "";
    if (!grew.empty()) out += fmt::format("    {}, oldest {}\n", grew, format_age(group.site->oldest_age_s));

    size_t shown = std::min(group.fds.size(), kExampleFds);
    out += render_fds({group.fds.begin(), group.fds.begin() + static_cast<ptrdiff_t>(shown)}, "    ");
    if (group.fds.size() > shown) out += fmt::format("    ... and {} more\n", group.fds.size() - shown);
    // A leak is a site whose fds keep getting older and more numerous.
    if (group.site && group.fds.size() > 1 && grew.empty()) {
        out += fmt::format("    oldest {}, newest {}\n", format_age(group.site->oldest_age_s),
                           format_age(group.site->newest_age_s));
    }
    if (group.site) out += render_stacks(*group.site, "  ");
}

std::string bad_close_message(const std::string& error) {
    if (error == "double_close") return "closed twice";
    if (error == "never_opened") return "closed but never opened";
    if (error == "owned_by_stream") return "closed while a FILE stream owns it";
    return printable(error);
}

void render_bad_closes(std::string& out, const Report& report) {
    if (report.bad_closes.empty()) return;
    std::map<int, const Site*> sites;
    for (const Site& site : report.sites) sites.emplace(site.id, &site);
    auto where = [&](const std::optional<int>& id) -> std::string {
        if (!id) return "?";
        auto it = sites.find(*id);
        return it == sites.end() ? fmt::format("site {}", *id) : user_location(*it->second, report.user_paths);
    };

    out += fmt::format("{}:\n", plural(report.bad_closes.size(), "bad close", "bad closes"));
    for (const BadClose& bad : report.bad_closes) {
        out += fmt::format("  fd {} {} at {}", bad.fd, bad_close_message(bad.error), where(bad.site));
        if (bad.previous_close_site) out += fmt::format("; closed before at {}", where(bad.previous_close_site));
        if (bad.opened_site) out += fmt::format("; opened at {}", where(bad.opened_site));
        out += '\n';
        if (bad.site) {
            if (auto it = sites.find(*bad.site); it != sites.end()) out += render_stacks(*it->second, "    ", 8);
        }
    }
    out += '\n';
}

// An exit report of a CPython program says of each leak whether interpreter
// shutdown closed it afterwards. Leaks then show in sections, never closed
// first: no exit path releases those, while the others were objects still
// referenced at exit (a module-level pool, a cached loop).
constexpr std::string_view kExitStates[] = {kNeverClosed, kHeldUntilExit, ""};

bool has_exit_states(const Report& report) {
    return std::any_of(report.fds.begin(), report.fds.end(),
                       [](const FdEntry& fd) { return is_leak(fd) && !fd.at_exit.empty(); });
}

std::string_view exit_state_name(std::string_view at_exit) {
    if (at_exit == kNeverClosed) return "never closed";
    if (at_exit == kHeldUntilExit) return "held until exit";
    return "not recorded";
}

std::string exit_state_title(std::string_view at_exit, size_t fds, size_t sites) {
    std::string counted = fmt::format("{} from {}", plural(fds, "fd", "fds"), plural(sites, "site", "sites"));
    if (at_exit == kNeverClosed) return fmt::format("Never closed: {}, still open after interpreter shutdown", counted);
    if (at_exit == kHeldUntilExit) {
        return fmt::format(
            "Held until exit: {}, closed only by interpreter shutdown (objects still referenced at exit)", counted);
    }
    return fmt::format("Exit state not recorded: {}", counted);
}

// "2 never closed, 14 held until exit"
std::string exit_state_counts(const Report& report) {
    std::vector<std::string> parts;
    for (std::string_view at_exit : kExitStates) {
        size_t n = std::count_if(report.fds.begin(), report.fds.end(),
                                 [&](const FdEntry& fd) { return is_leak(fd) && fd.at_exit == at_exit; });
        if (n == 0) continue;
        parts.push_back(fmt::format("{} {}", n, exit_state_name(at_exit)));
    }
    return fmt::format("{}", fmt::join(parts, ", "));
}

// Everything listed in the report that is not counted: suppressed leaks, the
// standard streams, inherited fds, fds open before `fdtrack attach` (on a
// line of their own: in a process attached to, they are most of its fds)
// and fds whose creation was not seen.
void render_uncounted(std::string& out, const Report& report) {
    std::vector<int> suppressed, standard, inherited, before_attach, unknown;
    for (const FdEntry& fd : report.fds) {
        if (is_leak(fd)) continue;
        if (fd.fd <= 2) {
            standard.push_back(fd.fd);
        } else if (fd.origin == "inherited") {
            inherited.push_back(fd.fd);
        } else if (fd.origin == "before_attach") {
            before_attach.push_back(fd.fd);
        } else if (fd.origin == "unknown") {
            unknown.push_back(fd.fd);
        } else {
            suppressed.push_back(fd.fd);
        }
    }
    if (!suppressed.empty()) {
        out += fmt::format("Suppressed: {} ({})\n", plural(suppressed.size(), "fd", "fds"), fd_ranges(suppressed));
    }
    if (!before_attach.empty()) {
        out += fmt::format("Open before attach (not counted): {} ({})\n", plural(before_attach.size(), "fd", "fds"),
                           fd_ranges(before_attach));
    }
    std::vector<std::string> parts;
    if (!standard.empty()) parts.push_back(fmt::format("standard streams {}", fd_ranges(standard)));
    if (!inherited.empty()) parts.push_back(fmt::format("inherited {}", fd_ranges(inherited)));
    if (!unknown.empty()) parts.push_back(fmt::format("creation not seen {}", fd_ranges(unknown)));
    if (!parts.empty()) out += fmt::format("Not counted: {}\n", fmt::join(parts, "; "));
}

// "libpython3.11.so.1.0", or "python3.11, libpython3.11.so.1.0" for a run
// that crosses from one into the other.
std::string modules_of(const Site& site, const StackRow& row) {
    std::vector<std::string> names;
    for (size_t i = row.first; i < row.first + row.count; ++i) {
        std::string name = printable(basename(site.frames[i].module));
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

std::string render_fds(const std::vector<const FdEntry*>& fds, std::string_view indent) {
    std::string out;
    size_t fd_width = 1, kind_width = 1, age_width = 1;
    for (const FdEntry* fd : fds) {
        fd_width = std::max(fd_width, fmt::formatted_size("{}", fd->fd));
        kind_width = std::max(kind_width, printable(fd->kind).size());
        age_width = std::max(age_width, format_age(fd->age_s).size());
    }
    for (const FdEntry* entry : fds) {
        const FdEntry& fd = *entry;
        out += fmt::format("{}fd {:>{}}  {:<{}}  {:>{}}  {}", indent, fd.fd, fd_width, printable(fd.kind), kind_width,
                           format_age(fd.age_s), age_width, printable(fd.target));
        if (!fd.state.empty()) out += fmt::format("  {}", printable(fd.state));
        // As lsof's FD column and its thread: what `exec` keeps, who blocks, who opened it.
        std::string flags = fd.cloexec ? (fd.nonblock ? "cloexec,nonblock" : "cloexec") : (fd.nonblock ? "nonblock" : "");
        if (!flags.empty()) out += fmt::format("  [{}]", flags);
        if (fd.tid) {
            out += fmt::format("  thread {}{}", fd.tid, fd.thread.empty() ? "" : " " + printable(fd.thread));
        }
        out += '\n';
    }
    return out;
}

std::string format_age(double seconds) {
    if (!(seconds >= 0)) seconds = 0;  // NaN too
    if (seconds < 60) return fmt::format("{:.1f}s", seconds);
    // The reader refuses such ages; the cast below would be undefined past 2^64.
    if (seconds >= 1e15) return fmt::format("{:.3g}h", seconds / 3600);
    auto whole = static_cast<uint64_t>(seconds);
    if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
    return fmt::format("{}h{:02}m", whole / 3600, whole / 60 % 60);
}

// Under a site with Python frames, the interpreter's native frames
// (_PyEval_EvalFrameDefault, _PyObject_MakeTpCall...: some 30 under every
// pytest leak) only say "Python called this", which the Python stack says
// better. Runs of two or more fold into one line; extension modules and other
// libraries keep theirs, and the JSON keeps every frame.
std::vector<StackRow> native_rows(const Site& site) {
    std::vector<StackRow> rows;
    bool fold = !site.python.empty();
    for (size_t i = 0; i < site.frames.size();) {
        size_t end = i + 1;
        if (fold && is_interpreter_module(site.frames[i].module)) {
            while (end < site.frames.size() && is_interpreter_module(site.frames[end].module)) ++end;
            if (end - i < 2) end = i + 1;
        }
        rows.push_back({i, end - i});
        i = end;
    }
    return rows;
}

std::string user_location(const Site& site, const std::vector<std::string>& user_paths) {
    UserFrame frame = user_frame(site, user_paths);
    if (frame.python) return python_location(*frame.python);
    if (frame.native) return native_location(*frame.native);
    return "an unknown location";
}

std::string render_stacks(const Site& site, std::string_view indent, size_t max_frames) {
    auto limit = [&](size_t n) { return max_frames == 0 ? n : std::min(n, max_frames); };
    std::string out;
    if (!site.python.empty()) {
        out += fmt::format("{}Python stack (innermost first):\n", indent);
        for (size_t i = 0; i < limit(site.python.size()); ++i) {
            const PythonFrame& frame = site.python[i];
            out += fmt::format("{}  File \"{}\", line {}, in {}\n", indent, printable(frame.file), frame.line,
                               printable(frame.function));
        }
        if (limit(site.python.size()) < site.python.size()) {
            out += fmt::format("{}  ... {} more\n", indent, site.python.size() - limit(site.python.size()));
        }
    }
    if (!site.frames.empty()) {
        out += fmt::format("{}Native stack (innermost first):\n", indent);
        size_t number_width = fmt::formatted_size("{}", site.frames.size() - 1);
        std::vector<StackRow> rows = native_rows(site);
        for (size_t r = 0; r < limit(rows.size()); ++r) {
            if (rows[r].count > 1) {
                out += fmt::format("{}  ... {} interpreter frames ({})\n", indent, rows[r].count,
                                   modules_of(site, rows[r]));
                continue;
            }
            size_t i = rows[r].first;
            const NativeFrame& frame = site.frames[i];
            out += fmt::format("{}  #{:<{}} 0x{:012x} {}", indent, i, number_width, frame.address,
                               frame.function.empty() ? "???" : printable(frame.function));
            if (!frame.file.empty()) {
                out += frame.line > 0 ? fmt::format(" ({}:{})", printable(frame.file), frame.line)
                                      : fmt::format(" ({})", printable(frame.file));
            } else {
                out += fmt::format(" (in {})", frame.module.empty() ? "?" : printable(frame.module));
            }
            out += '\n';
        }
        if (limit(rows.size()) < rows.size()) {
            out += fmt::format("{}  ... {} more\n", indent, site.frames.size() - rows[limit(rows.size())].first);
        }
    }
    if (site.python.empty() && site.frames.empty()) out += fmt::format("{}(no stack recorded)\n", indent);
    return out;
}

std::string render_text(const Report& report) {
    bool exit_report = report.trigger == "exit";
    std::vector<SiteGroup> groups = group_by_site(report);
    size_t counted = 0;
    for (const SiteGroup& group : groups) counted += group.fds.size();
    std::string counted_word = exit_report ? "leaked" : "tracked";

    std::string out;
    out += fmt::format("fdtrack: pid {} ({}), {} report: {}/{} fds open, {} {} from {}\n", report.pid,
                       report.program.empty() ? "?" : printable(report.program),
                       report.trigger.empty() ? "?" : printable(report.trigger), report.open_count,
                       format_limit(report.rlimit_nofile), counted, counted_word,
                       plural(groups.size(), "site", "sites"));
    auto printable_list = [](const std::vector<std::string>& items, std::string_view separator) {
        std::string joined;
        for (const std::string& item : items) {
            if (!joined.empty()) joined += separator;
            joined += printable(item);
        }
        return joined;
    };
    if (!report.argv.empty()) out += fmt::format("  command: {}\n", printable_list(report.argv, " "));
    if (!report.time.empty()) out += fmt::format("  time:    {}\n", printable(report.time));
    if (report.open_before_attach) {
        out += fmt::format("  attached: tracked since fdtrack attach; {} open before it, not counted\n",
                           plural(*report.open_before_attach, "fd", "fds"));
    }
    if (!report.user_paths.empty()) {
        out += fmt::format("  user code under: {}\n", printable_list(report.user_paths, ":"));
    }
    out += '\n';

    auto render_groups = [&](const std::vector<SiteGroup>& section) {
        for (const SiteGroup& group : section) {
            render_group(out, group, exit_report, report.user_paths);
            out += '\n';
        }
    };
    bool by_exit_state = has_exit_states(report);
    if (!by_exit_state) {
        render_groups(groups);
    } else {
        for (std::string_view at_exit : kExitStates) {
            auto section = group_by_site(report, [&](const FdEntry& fd) { return fd.at_exit == at_exit; });
            if (section.empty()) continue;
            size_t fds = 0;
            for (const SiteGroup& group : section) fds += group.fds.size();
            out += exit_state_title(at_exit, fds, section.size()) + "\n\n";
            render_groups(section);
        }
    }
    render_bad_closes(out, report);
    render_uncounted(out, report);

    if (groups.empty()) {
        out += exit_report ? "No leaks.\n" : "No tracked fds open.\n";
    } else {
        std::string states = by_exit_state ? fmt::format(" ({})", exit_state_counts(report)) : "";
        out += fmt::format("Summary: {} {} from {}{}; the biggest is {}.\n", plural(counted, "fd", "fds"),
                           counted_word, plural(groups.size(), "site", "sites"), states,
                           group_location(groups.front(), report.user_paths));
    }
    return out;
}

std::string top_site_summary(const Report& report) {
    std::vector<SiteGroup> groups = group_by_site(report);
    if (groups.empty()) {
        return fmt::format("fdtrack: {} open, none from a tracked allocation site",
                           plural(report.open_count, "fd", "fds"));
    }
    const SiteGroup& top = groups.front();
    std::string line = fmt::format("fdtrack: {} open from {} ({})", plural(top.fds.size(), "fd", "fds"),
                                   group_location(top, report.user_paths), group_call(top));
    if (groups.size() > 1) {
        size_t rest = 0;
        for (size_t i = 1; i < groups.size(); ++i) rest += groups[i].fds.size();
        line += fmt::format("; {} more from {}", rest, plural(groups.size() - 1, "other site", "other sites"));
    }
    return line;
}

}  // namespace fdtrack
