// Suppression files: parsing with FILE:LINE errors, matching rules against
// tracked fds, and writing rules for the leaks of a report.
#include "report/suppressions.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include <fmt/format.h>

#include "report/input_file.h"
#include "report/printable.h"
#include "report/report_text.h"
#include "report/user_code.h"

namespace fdtrack {

namespace {

constexpr std::array<std::string_view, 5> kKeys = {"call", "kind", "target", "function", "python"};

// The kinds fd_describe reports (docs/spec.md); a kind outside them is a typo
// that would silently never match.
constexpr std::array<std::string_view, 14> kKinds = {"file",   "dir",      "pipe",    "fifo",  "socket",
                                                     "epoll",  "eventfd",  "timerfd", "signalfd",
                                                     "inotify", "memfd",   "pidfd",   "chr",   "other"};

std::string_view trim(std::string_view text) {
    size_t begin = text.find_first_not_of(" \t\r");
    if (begin == std::string_view::npos) return {};
    size_t end = text.find_last_not_of(" \t\r");
    return text.substr(begin, end - begin + 1);
}

bool has_glob_characters(std::string_view text) {
    return text.find_first_of("*?[\\") != std::string_view::npos;
}

std::string* field(SuppressionRule& rule, std::string_view key) {
    if (key == "call") return &rule.call;
    if (key == "kind") return &rule.kind;
    if (key == "target") return &rule.target;
    if (key == "function") return &rule.function;
    if (key == "python") return &rule.python;
    return nullptr;
}

bool glob_matches(const std::string& pattern, const std::string& text) {
    return pattern.empty() || fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

// Generated values are matched as globs, so their own *, ?, [ and \ (C++
// operator names, odd paths) must be taken literally. What the parser would
// not read back as written becomes a wildcard instead (issue 9): a newline
// would end the line, blanks at either end are trimmed, and control
// characters have no place in a file meant for a terminal and an editor. A
// control byte is one character, hence `?`; a C1 control or a byte of invalid
// UTF-8 is one character or several depending on the locale fnmatch runs
// in, hence `*`.
std::string escape_glob(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        char c = text[i];
        auto byte = static_cast<unsigned char>(c);
        bool at_an_end = i == 0 || i + 1 == text.size();
        if (c == '*' || c == '?' || c == '[' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7f || (at_an_end && c == ' ')) {
            out += '?';
        } else if (byte >= 0x80) {
            // A whole character that prints as itself is kept.
            size_t length = 2;
            while (length <= 4 && printable(text.substr(i, length)) != text.substr(i, length)) ++length;
            if (length <= 4 && i + length <= text.size()) {
                out.append(text.substr(i, length));
                i += length;
                continue;
            }
            if (!out.ends_with('*') || out.ends_with("\\*")) out += '*';
        } else {
            out += c;
        }
        ++i;
    }
    return out;
}

struct LeakGroup {
    const Site* site = nullptr;
    std::vector<const FdEntry*> fds;
};

std::vector<LeakGroup> leaks_by_site(const Report& report) {
    std::map<int, const Site*> sites;
    for (const Site& site : report.sites) sites.emplace(site.id, &site);
    std::map<int, LeakGroup> groups;
    for (const FdEntry& fd : report.fds) {
        if (!is_leak(fd)) continue;
        LeakGroup& group = groups[fd.site.value_or(-1)];
        if (auto it = sites.find(fd.site.value_or(-1)); it != sites.end()) group.site = it->second;
        group.fds.push_back(&fd);
    }
    std::vector<LeakGroup> sorted;
    for (auto& [id, group] : groups) sorted.push_back(std::move(group));
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const LeakGroup& a, const LeakGroup& b) { return a.fds.size() > b.fds.size(); });
    return sorted;
}

}  // namespace

SuppressionError::SuppressionError(std::vector<std::string> errors)
    : std::runtime_error(fmt::format("{}", fmt::join(errors, "\n"))), errors_(std::move(errors)) {}

std::vector<SuppressionRule> parse_suppressions(std::string_view text, std::string_view file_name) {
    std::vector<SuppressionRule> rules;
    std::vector<std::string> errors;
    size_t errors_before_rule = 0, errors_left_out = 0;
    // Messages quote the file, which may be anything: short and printable.
    std::string label = printable(file_name);
    auto quote = [](std::string_view text) { return printable_excerpt(text); };
    auto error = [&](int line, std::string message) {
        if (errors.size() >= kMaxSuppressionErrors) {
            ++errors_left_out;
            return;
        }
        errors.push_back(fmt::format("{}:{}: {}", label, line, std::move(message)));
    };
    // A rule without keys would suppress every leak: never what was meant.
    // Not said when its key lines were wrong already: that is the real error.
    auto finish_rule = [&] {
        if (rules.empty() || errors.size() + errors_left_out > errors_before_rule) return;
        const SuppressionRule& rule = rules.back();
        if (rule.call.empty() && rule.kind.empty() && rule.target.empty() && rule.function.empty() &&
            rule.python.empty()) {
            error(rule.line, fmt::format("rule '{}' has no keys, so it would suppress every leak (give at least "
                                         "one of {})",
                                         quote(rule.name), fmt::join(kKeys, ", ")));
        }
    };

    int number = 0;
    for (size_t start = 0; start <= text.size();) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = trim(text.substr(start, end - start));
        start = end + 1;
        ++number;
        if (line.empty() || line.front() == '#') continue;

        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            error(number, fmt::format("expected 'suppress: NAME' or 'KEY: VALUE', got '{}'", quote(line)));
            continue;
        }
        std::string_view key = trim(line.substr(0, colon));
        std::string_view value = trim(line.substr(colon + 1));
        if (key == "suppress") {
            finish_rule();
            errors_before_rule = errors.size() + errors_left_out;
            if (value.empty()) error(number, "'suppress:' needs a name for the rule");
            SuppressionRule& rule = rules.emplace_back();
            rule.name = value;
            rule.where = fmt::format("{}:{}", label, number);
            rule.line = number;
            continue;
        }
        if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
            error(number, fmt::format("unknown key '{}' (expected {})", quote(key), fmt::join(kKeys, ", ")));
            continue;
        }
        if (rules.empty()) {
            error(number, fmt::format("'{}:' outside a rule; start each rule with 'suppress: NAME'", key));
            continue;
        }
        std::string* slot = field(rules.back(), key);
        if (value.empty()) {
            error(number, fmt::format("'{}:' has no value", key));
        } else if (!slot->empty()) {
            error(number, fmt::format("'{}' given twice in rule '{}'", key, quote(rules.back().name)));
        } else if (key == "kind" && !has_glob_characters(value) &&
                   std::find(kKinds.begin(), kKinds.end(), value) == kKinds.end()) {
            error(number, fmt::format("unknown kind '{}' (expected {})", quote(value), fmt::join(kKinds, ", ")));
        } else {
            *slot = std::string(value);
        }
    }
    finish_rule();
    if (errors_left_out > 0) {
        errors.push_back(fmt::format("{}: {} more errors left out", label, errors_left_out));
    }
    if (!errors.empty()) throw SuppressionError(std::move(errors));
    return rules;
}

std::string read_suppressions_file(const std::string& path) {
    try {
        return read_input_file(path, kMaxSuppressionBytes);
    } catch (const InputFileError& e) {
        throw SuppressionError({fmt::format("{}: cannot read the suppressions file: {}", printable(path), e.what())});
    }
}

std::vector<SuppressionRule> load_suppressions(const std::string& path) {
    return parse_suppressions(read_suppressions_file(path), path);
}

bool suppression_matches(const SuppressionRule& rule, const FdEntry& fd, const Site* site) {
    if (fd.origin != "tracked") return false;
    if (!glob_matches(rule.call, fd.call) || !glob_matches(rule.kind, fd.kind) ||
        !glob_matches(rule.target, fd.target)) {
        return false;
    }
    if (!rule.function.empty()) {
        if (!site || std::none_of(site->frames.begin(), site->frames.end(), [&](const NativeFrame& frame) {
                return glob_matches(rule.function, frame.function);
            })) {
            return false;
        }
    }
    if (!rule.python.empty()) {
        if (!site || std::none_of(site->python.begin(), site->python.end(), [&](const PythonFrame& frame) {
                return glob_matches(rule.python, frame.file);
            })) {
            return false;
        }
    }
    return true;
}

int apply_suppressions(const std::vector<SuppressionRule>& rules, Report& report) {
    if (rules.empty()) return 0;
    std::map<int, const Site*> sites;
    for (const Site& site : report.sites) sites.emplace(site.id, &site);
    int marked = 0;
    for (FdEntry& fd : report.fds) {
        if (fd.suppressed || fd.origin != "tracked") continue;
        const Site* site = nullptr;
        if (fd.site) {
            if (auto it = sites.find(*fd.site); it != sites.end()) site = it->second;
        }
        for (const SuppressionRule& rule : rules) {
            if (suppression_matches(rule, fd, site)) {
                fd.suppressed = true;
                ++marked;
                break;
            }
        }
    }
    return marked;
}

std::string format_rule(const SuppressionRule& rule) {
    // Generated names are made of printable() text already; a control
    // character left in a name would end or garble the line.
    std::string name = rule.name;
    for (char& c : name) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    std::string out = fmt::format("suppress: {}\n", name);
    const std::pair<std::string_view, const std::string*> keys[] = {
        {"call", &rule.call},         {"kind", &rule.kind},     {"target", &rule.target},
        {"function", &rule.function}, {"python", &rule.python},
    };
    for (const auto& [key, value] : keys) {
        if (!value->empty()) out += fmt::format("  {}: {}\n", key, *value);
    }
    return out;
}

std::vector<SuggestedRule> suggest_suppressions(const Report& report) {
    std::vector<SuggestedRule> suggestions;
    for (const LeakGroup& group : leaks_by_site(report)) {
        const FdEntry& first = *group.fds.front();
        std::set<std::string> kinds, targets;
        for (const FdEntry* fd : group.fds) {
            kinds.insert(fd->kind);
            targets.insert(fd->target);
        }
        std::string location = group.site ? user_location(*group.site, report.user_paths) : "an unrecorded stack";

        SuppressionRule rule;
        rule.name = fmt::format("{} leaked at {}", first.call.empty() ? "fd" : printable(first.call), location);
        std::string call = group.site && !group.site->call.empty() ? group.site->call : first.call;
        if (!call.empty()) rule.call = escape_glob(call);
        // A kind the parser does not know would make it reject the whole file.
        if (kinds.size() == 1 && std::find(kKinds.begin(), kKinds.end(), first.kind) != kKinds.end()) {
            rule.kind = first.kind;
        }
        // The frame the text report's headline names, so the user recognises the rule.
        UserFrame named = group.site ? user_frame(*group.site, report.user_paths) : UserFrame{};
        const PythonFrame* python = named.python;
        const NativeFrame* native = named.native;
        if (python && !python->file.empty()) {
            rule.python = escape_glob(python->file);
        } else if (native && !native->function.empty()) {
            rule.function = escape_glob(native->function);
        } else if (targets.size() == 1 && !first.target.empty()) {
            // No name for the code (stripped, or no stack): the target is the
            // next best thing that tells this leak from others.
            rule.target = escape_glob(first.target);
        }

        std::string why = fmt::format("{} {} leaked from {} in pid {} ({})", group.fds.size(),
                                      group.fds.size() == 1 ? "fd" : "fds", location, report.pid,
                                      report.program.empty() ? "?" : printable(report.program));
        if (rule.python.empty() && rule.function.empty() && rule.target.empty()) {
            // A rule needs a key; without even a call (a hand-made report) it matches every leak.
            if (rule.call.empty() && rule.kind.empty()) rule.call = "*";
            why += fmt::format("\nno frame or target names this site: this rule matches every {}leak",
                               call.empty() ? "" : printable(call) + " ");
        }
        suggestions.push_back({std::move(rule), std::move(why)});
    }
    return suggestions;
}

std::string render_suggestions(const std::vector<SuggestedRule>& suggestions) {
    std::string out;
    std::set<std::string> seen;
    for (const SuggestedRule& suggestion : suggestions) {
        std::string rule = format_rule(suggestion.rule);
        if (!seen.insert(rule).second) continue;
        size_t start = 0;
        while (start < suggestion.why.size()) {
            size_t end = std::min(suggestion.why.find('\n', start), suggestion.why.size());
            out += fmt::format("# {}\n", std::string_view(suggestion.why).substr(start, end - start));
            start = end + 1;
        }
        out += rule;
        out += '\n';
    }
    return out;
}

}  // namespace fdtrack
