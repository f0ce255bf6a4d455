// Suppression files (docs/suppressions.md): rules that mark known, accepted
// leaks as suppressed, and the rules `fdtrack run --gen-suppressions` writes.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "report/report.h"

namespace fdtrack {

// One `suppress:` block. Every key is a glob (fnmatch(3), `*` crosses `/`);
// an empty key is not given and matches anything.
struct SuppressionRule {
    std::string name;   // free text; generated ones are printable() already
    std::string where;  // "FILE:LINE" of its `suppress:` line
    int line = 0;       // that LINE
    std::string call;
    std::string kind;
    std::string target;
    std::string function;  // any native frame of the site
    std::string python;    // the file of any Python frame of the site
};

// A malformed file. Each line of `errors` reads "FILE:LINE: what is wrong";
// what() joins them with newlines.
class SuppressionError : public std::runtime_error {
public:
    explicit SuppressionError(std::vector<std::string> errors);
    const std::vector<std::string>& errors() const { return errors_; }

private:
    std::vector<std::string> errors_;
};

// A suppressions file is a few rules written by hand; anything larger is
// not one (issue 9: /dev/zero as FDTRACK_SUPPRESSIONS grew the host without bound).
inline constexpr size_t kMaxSuppressionBytes = size_t{4} << 20;
// More bad lines than this are counted, not listed.
inline constexpr size_t kMaxSuppressionErrors = 100;

// `file_name` only labels the messages. Throws SuppressionError listing every
// bad line (up to kMaxSuppressionErrors), so one run of the user's editor
// fixes them all. Messages quote the file shortened and printable().
std::vector<SuppressionRule> parse_suppressions(std::string_view text, std::string_view file_name);

// The text of the suppressions file at `path`: a regular file (or a symlink
// to one) of at most kMaxSuppressionBytes. A directory, FIFO or device is
// refused without blocking; any failure is a SuppressionError of one line.
std::string read_suppressions_file(const std::string& path);

// read_suppressions_file, then parse_suppressions.
std::vector<SuppressionRule> load_suppressions(const std::string& path);

// Whether `rule` matches a tracked fd of `site` (null when the report does
// not list the fd's site: then only call, kind and target can match).
bool suppression_matches(const SuppressionRule& rule, const FdEntry& fd, const Site* site);

// Marks every tracked fd that some rule matches as suppressed; never clears
// the mark, so applying the same rules twice (library, then CLI) is harmless.
// Returns how many fds it marked.
int apply_suppressions(const std::vector<SuppressionRule>& rules, Report& report);

// A rule written for one leaking site, and which leak it is for.
struct SuggestedRule {
    SuppressionRule rule;
    std::string why;  // "2 fds leaked from app.py:9 in handler in pid 42 (/usr/bin/python3.11)"
};

// One rule per leaking site of `report`, biggest site first: call, kind, and
// the Python file or native function of the frame the text report names as
// the user's (the target when no frame has a name).
std::vector<SuggestedRule> suggest_suppressions(const Report& report);

// The rules as a file, each preceded by its `why` as a comment; a rule that
// several processes suggested appears once.
std::string render_suggestions(const std::vector<SuggestedRule>& suggestions);

// The rule as it appears in a file.
std::string format_rule(const SuppressionRule& rule);

}  // namespace fdtrack
