// Reading and writing reports as JSON, schema fdtrack/1: the writer keeps the
// docs/spec.md's key order, the reader checks every field and names the bad one.
#include "report/report_json.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report/input_file.h"
#include "report/printable.h"

namespace fdtrack {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

ordered_json optional_id(const std::optional<int>& id) {
    return id ? ordered_json(*id) : ordered_json(nullptr);
}

std::string hex_address(uint64_t address) {
    return fmt::format("0x{:x}", address);
}

ordered_json native_frame_to_json(const NativeFrame& frame) {
    ordered_json j;
    j["function"] = frame.function;
    if (!frame.file.empty()) j["file"] = frame.file;
    if (frame.line > 0) j["line"] = frame.line;
    j["module"] = frame.module;
    j["address"] = hex_address(frame.address);
    return j;
}

ordered_json python_frame_to_json(const PythonFrame& frame) {
    ordered_json j;
    j["function"] = frame.function;
    if (!frame.file.empty()) j["file"] = frame.file;
    if (frame.line > 0) j["line"] = frame.line;
    return j;
}

// The fds are most of a large report (19,000 fds: 6 MB of JSON), so they are
// written straight into the output, exactly as a JSON tree of them would
// print, instead of being built as one first (a tenth of the time).
void append_string(std::string& out, const std::string& text) {
    bool plain = std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
    if (!plain) {  // escapes and invalid UTF-8 as the tree prints them
        out += ordered_json(text).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
        return;
    }
    out += '"';
    out += text;
    out += '"';
}

void append_fd(std::string& out, const FdEntry& fd) {
    constexpr const char* kKey = ",\n      \"";  // fields of an entry of the top level's "fds"
    fmt::format_to(std::back_inserter(out), "    {{\n      \"fd\": {}", fd.fd);
    auto key = [&](const char* name) {
        out += kKey;
        out += name;
        out += "\": ";
    };
    key("origin");
    append_string(out, fd.origin);
    key("call");
    if (fd.call.empty()) out += "null";
    else append_string(out, fd.call);
    key("kind");
    append_string(out, fd.kind);
    key("target");
    append_string(out, fd.target);
    if (!fd.state.empty()) {
        key("state");
        append_string(out, fd.state);
    }
    key("cloexec");
    out += fd.cloexec ? "true" : "false";
    key("nonblock");
    out += fd.nonblock ? "true" : "false";
    key("age_s");
    out += ordered_json(fd.age_s).dump();  // the tree's own number format
    key("tid");
    fmt::format_to(std::back_inserter(out), "{}", fd.tid);
    key("thread");
    append_string(out, fd.thread);
    key("site");
    if (fd.site) fmt::format_to(std::back_inserter(out), "{}", *fd.site);
    else out += "null";
    key("suppressed");
    out += fd.suppressed ? "true" : "false";
    if (!fd.at_exit.empty()) {
        key("at_exit");
        append_string(out, fd.at_exit);
    }
    out += "\n    }";
}

// `json`, printed with "fds": [] at the top level, with the fds put in.
std::string with_fds(std::string json, const std::vector<FdEntry>& fds) {
    if (fds.empty()) return json;
    // Only the top level's keys start a line with exactly two spaces, and no
    // key before "fds" is named so: the first match is the place.
    constexpr std::string_view kEmpty = "\n  \"fds\": []";
    size_t at = json.find(kEmpty);
    std::string out;
    out.reserve(json.size() + fds.size() * 320);
    out.append(json, 0, at);
    out += "\n  \"fds\": [\n";
    for (size_t i = 0; i < fds.size(); ++i) {
        if (i) out += ",\n";
        append_fd(out, fds[i]);
    }
    out += "\n  ]";
    out.append(json, at + kEmpty.size(), std::string::npos);
    return out;
}

ordered_json bad_close_to_json(const BadClose& bad) {
    ordered_json j;
    j["fd"] = bad.fd;
    j["error"] = bad.error;
    j["site"] = optional_id(bad.site);
    j["previous_close_site"] = optional_id(bad.previous_close_site);
    j["opened_site"] = optional_id(bad.opened_site);
    return j;
}

// Every accessor gets the field's path ("fds[3].site") so that a bad report
// is reported as precisely as a compiler error.
// Where a field is ("fds[3].site"): a chain of links on the stack, turned
// into text only for an error message, so that a report of 19,000 fds is
// read without formatting a path for each of its fields.
class Path {
public:
    Path() = default;  // the top level
    Path(const Path& parent, std::string_view key) : parent_(&parent), key_(key) {}
    Path(const Path& parent, size_t index) : parent_(&parent), index_(index), is_index_(true) {}

    std::string str() const {
        if (!parent_) return {};
        std::string above = parent_->str();
        if (is_index_) return fmt::format("{}[{}]", above, index_);
        return above.empty() ? std::string(key_) : fmt::format("{}.{}", above, key_);
    }

private:
    const Path* parent_ = nullptr;
    std::string_view key_;
    size_t index_ = 0;
    bool is_index_ = false;
};

[[noreturn]] void fail(const Path& path, std::string_view problem) {
    throw ReportError(fmt::format("{}: {}", path.str(), problem));
}

[[noreturn]] void wrong_type(const Path& path, std::string_view expected, const json& value) {
    fail(path, fmt::format("expected {}, found {}", expected, value.type_name()));
}

// Returns nullptr when the key is absent and absence is allowed.
const json* find(const json& object, std::string_view key, const Path& parent, bool required) {
    auto it = object.find(key);
    if (it != object.end()) return &*it;
    if (required) fail(Path(parent, key), "missing");
    return nullptr;
}

// An fd entry as the streaming reader collects it (ReportSax): its keys and
// their scalar values in order, without a JSON object, a tree node per key.
struct FlatObject {
    std::vector<std::pair<std::string, json>> items;
};

const json* find(const FlatObject& object, std::string_view key, const Path& parent, bool required) {
    // The last of a repeated key, as the tree keeps it.
    for (auto it = object.items.rbegin(); it != object.items.rend(); ++it) {
        if (it->first == key) return &it->second;
    }
    if (required) fail(Path(parent, key), "missing");
    return nullptr;
}

int64_t as_integer(const json& value, const Path& path, int64_t min, int64_t max) {
    if (!value.is_number_integer()) wrong_type(path, "an integer", value);
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max)) {
        fail(path, fmt::format("{} is out of range ({} to {})", value.get<uint64_t>(), min, max));
    }
    int64_t n = value.get<int64_t>();
    if (n < min || n > max) fail(path, fmt::format("{} is out of range ({} to {})", n, min, max));
    return n;
}

// `min` is 0 for what cannot be negative (fd numbers, pids, counts): a
// negative fd would pass for a standard stream, a negative count would make
// diff's sums lie.
int get_int(const auto& object, std::string_view key, const Path& parent, bool required = true,
            int min = 0) {
    const json* value = find(object, key, parent, required);
    if (!value) return 0;
    return static_cast<int>(as_integer(*value, Path(parent, key), min, std::numeric_limits<int>::max()));
}

// Source lines are only printed; 0 or less means unknown.
int get_line(const json& object, const Path& parent) {
    return get_int(object, "line", parent, false, std::numeric_limits<int>::min());
}

uint64_t get_uint64(const json& object, std::string_view key, const Path& parent) {
    const json& value = *find(object, key, parent, true);
    Path path(parent, key);
    if (!value.is_number_integer()) wrong_type(path, "an integer", value);
    if (!value.is_number_unsigned() && value.get<int64_t>() < 0) fail(path, "must not be negative");
    return value.get<uint64_t>();
}

std::optional<int> get_optional_id(const auto& object, std::string_view key, const Path& parent,
                                   bool required) {
    const json* value = find(object, key, parent, required);
    if (!value || value->is_null()) return std::nullopt;
    return static_cast<int>(as_integer(*value, Path(parent, key), 0, std::numeric_limits<int>::max()));
}

// Ages come from a monotonic clock: never negative, and no machine has been
// up for 300 years. Beyond that a double no longer prints as a duration.
constexpr double kMaxAgeSeconds = 1e10;

double get_age(const auto& object, std::string_view key, const Path& parent, bool required = true) {
    const json* value = find(object, key, parent, required);
    if (!value) return 0;
    if (!value->is_number()) wrong_type(Path(parent, key), "a number", *value);
    double age = value->get<double>();
    if (!std::isfinite(age) || age < 0 || age > kMaxAgeSeconds) {
        fail(Path(parent, key), fmt::format("{} is out of range (an age from 0 to {:.0f} seconds)",
                                                  value->dump(), kMaxAgeSeconds));
    }
    return age;
}

bool get_bool(const auto& object, std::string_view key, const Path& parent, bool required = true) {
    const json* value = find(object, key, parent, required);
    if (!value) return false;
    if (!value->is_boolean()) wrong_type(Path(parent, key), "true or false", *value);
    return value->get<bool>();
}

std::string get_string(const auto& object, std::string_view key, const Path& parent,
                       bool required = true, bool nullable = false) {
    const json* value = find(object, key, parent, required);
    if (!value || (nullable && value->is_null())) return {};
    if (!value->is_string()) wrong_type(Path(parent, key), "a string", *value);
    return value->get<std::string>();
}

const json& get_array(const json& object, std::string_view key, const Path& parent) {
    const json& value = *find(object, key, parent, true);
    if (!value.is_array()) wrong_type(Path(parent, key), "an array", value);
    return value;
}

std::vector<std::string> get_strings(const json& object, std::string_view key, const Path& parent,
                                     bool required = true) {
    std::vector<std::string> strings;
    const json* value = find(object, key, parent, required);
    if (!value) return strings;
    Path path(parent, key);
    if (!value->is_array()) wrong_type(path, "an array", *value);
    for (size_t i = 0; i < value->size(); ++i) {
        if (!(*value)[i].is_string()) wrong_type(Path(path, i), "a string", (*value)[i]);
        strings.push_back((*value)[i].get<std::string>());
    }
    return strings;
}

void expect_object(const json& value, const Path& path) {
    if (!value.is_object()) wrong_type(path, "an object", value);
}

void expect_object(const FlatObject&, const Path&) {}  // collected from an object

uint64_t parse_address(const std::string& text, const Path& path) {
    bool hex_digits_only = text.size() > 2 && text.size() <= 18 &&
                           text.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos;
    if (text.rfind("0x", 0) != 0 || !hex_digits_only) {
        fail(path, fmt::format("expected a hex address like \"0x7f12ab\", found \"{}\"", printable_excerpt(text)));
    }
    return std::stoull(text.substr(2), nullptr, 16);
}

NativeFrame native_frame_from_json(const json& j, const Path& path) {
    expect_object(j, path);
    NativeFrame frame;
    frame.function = get_string(j, "function", path);
    frame.file = get_string(j, "file", path, false);
    frame.line = get_line(j, path);
    frame.module = get_string(j, "module", path);
    frame.address = parse_address(get_string(j, "address", path), Path(path, "address"));
    return frame;
}

PythonFrame python_frame_from_json(const json& j, const Path& path) {
    expect_object(j, path);
    PythonFrame frame;
    frame.function = get_string(j, "function", path);
    frame.file = get_string(j, "file", path, false);
    frame.line = get_line(j, path);
    return frame;
}

// [[time, count], ...], oldest first; absent is empty.
std::vector<CountSample> history_from_json(const json& object, std::string_view key, const Path& parent) {
    std::vector<CountSample> history;
    const json* samples = find(object, key, parent, false);
    if (!samples) return history;
    Path path(parent, key);
    if (!samples->is_array()) wrong_type(path, "an array", *samples);
    for (size_t i = 0; i < samples->size(); ++i) {
        const json& pair = (*samples)[i];
        Path at(path, i);
        if (!pair.is_array() || pair.size() != 2) wrong_type(at, "a [time, count] pair", pair);
        CountSample sample;
        sample.time = as_integer(pair[0], Path(at, size_t{0}), 0, int64_t{1} << 40);
        sample.count = static_cast<int>(as_integer(pair[1], Path(at, size_t{1}), 0, INT32_MAX));
        if (!history.empty() && sample.time < history.back().time) fail(at, "earlier than the sample before it");
        history.push_back(sample);
    }
    return history;
}

Site site_from_json(const json& j, const Path& path) {
    expect_object(j, path);
    Site site;
    site.id = get_int(j, "id", path);
    site.count = get_int(j, "count", path);
    site.call = get_string(j, "call", path);
    site.oldest_age_s = get_age(j, "oldest_age_s", path, false);
    site.newest_age_s = get_age(j, "newest_age_s", path, false);
    Path frames_path(path, "frames");
    const json& frames = get_array(j, "frames", path);
    for (size_t i = 0; i < frames.size(); ++i) {
        site.frames.push_back(native_frame_from_json(frames[i], Path(frames_path, i)));
    }
    Path python_path(path, "python");
    const json& python = get_array(j, "python", path);
    for (size_t i = 0; i < python.size(); ++i) {
        site.python.push_back(python_frame_from_json(python[i], Path(python_path, i)));
    }
    site.history = history_from_json(j, "history", path);
    return site;
}

FdEntry fd_from_json(const auto& j, const Path& path) {
    expect_object(j, path);
    FdEntry fd;
    fd.fd = get_int(j, "fd", path);
    fd.origin = get_string(j, "origin", path);
    // is_leak() depends on the origin, so an unknown one must not pass silently.
    if (fd.origin != "tracked" && fd.origin != "inherited" && fd.origin != "before_attach" && fd.origin != "unknown") {
        fail(Path(path, "origin"),
             fmt::format("expected \"tracked\", \"inherited\", \"before_attach\" or \"unknown\", found \"{}\"",
                         printable_excerpt(fd.origin)));
    }
    fd.call = get_string(j, "call", path, false, true);
    fd.kind = get_string(j, "kind", path);
    fd.target = get_string(j, "target", path);
    fd.state = get_string(j, "state", path, false);
    fd.cloexec = get_bool(j, "cloexec", path);
    fd.nonblock = get_bool(j, "nonblock", path, false);
    fd.age_s = get_age(j, "age_s", path);
    fd.tid = get_int(j, "tid", path);
    fd.thread = get_string(j, "thread", path);
    fd.site = get_optional_id(j, "site", path, true);
    fd.suppressed = get_bool(j, "suppressed", path);
    fd.at_exit = get_string(j, "at_exit", path, false);
    // What --errors-for-leak-kinds gates on: a misspelt value must not pass silently.
    if (!fd.at_exit.empty() && fd.at_exit != kNeverClosed && fd.at_exit != kHeldUntilExit) {
        fail(Path(path, "at_exit"),
             fmt::format("expected \"{}\" or \"{}\", found \"{}\"", kNeverClosed, kHeldUntilExit,
                         printable_excerpt(fd.at_exit)));
    }
    return fd;
}

BadClose bad_close_from_json(const json& j, const Path& path) {
    expect_object(j, path);
    BadClose bad;
    bad.error = get_string(j, "error", path);
    // The number the program passed to close(): only one never open may be
    // negative (close(-1) on an error path).
    bad.fd = get_int(j, "fd", path, true, bad.error == "never_opened" ? std::numeric_limits<int>::min() : 0);
    bad.site = get_optional_id(j, "site", path, false);
    bad.previous_close_site = get_optional_id(j, "previous_close_site", path, false);
    bad.opened_site = get_optional_id(j, "opened_site", path, false);
    return bad;
}

// nlohmann parses iteratively, but prints, copies and compares values
// recursively: 100k nested arrays overflowed the stack when an error message
// printed them (issue 9). A report nests 4 deep; anything past kMaxDepth is
// refused before parsing. Brackets inside strings do not count.
void check_nesting(std::string_view text) {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxReportDepth) {
                throw ReportError(fmt::format("nested more than {} levels deep at byte {}, not an fdtrack report",
                                              kMaxReportDepth, i));
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
}

// Builds the tree as nlohmann's own parser does, except for the entries of
// the top level's "fds", the bulk of a large report (19,000 fds: 6 MB): each
// is collected flat and read into an FdEntry as soon as it ends, without a
// tree of its own; the tree gets "fds": [] in their place. The first bad
// entry's error, in the words fd_from_json always used, is kept for
// document_from_json to give where it reads the fds, after the schema and
// the fields before them, as the tree reader did.
class ReportSax {
public:
    explicit ReportSax(json& root) : dom_(root, true) {}

    std::vector<FdEntry> fds;
    std::optional<std::string> fds_error;

    bool null() { return scalar(json(nullptr), [&] { return dom_.null(); }); }
    bool boolean(bool value) { return scalar(json(value), [&] { return dom_.boolean(value); }); }
    bool number_integer(json::number_integer_t value) {
        return scalar(json(value), [&] { return dom_.number_integer(value); });
    }
    bool number_unsigned(json::number_unsigned_t value) {
        return scalar(json(value), [&] { return dom_.number_unsigned(value); });
    }
    bool number_float(json::number_float_t value, const json::string_t& text) {
        return scalar(json(value), [&] { return dom_.number_float(value, text); });
    }
    bool string(json::string_t& value) {
        if (in_ == In::elsewhere) return dom_.string(value);
        return scalar(json(std::move(value)), [] { return true; });
    }
    bool binary(json::binary_t& value) { return in_ == In::elsewhere ? dom_.binary(value) : true; }

    bool start_object(std::size_t size) { return start(json::value_t::object, [&] { return dom_.start_object(size); }); }
    bool start_array(std::size_t size) {
        if (in_ == In::elsewhere && depth_ == 1 && fds_key_) {
            in_ = In::fds;
            fds.clear();  // a repeated "fds": the last one counts, as in the tree
            index_ = 0;
            ++depth_;
            return dom_.start_array(0);
        }
        return start(json::value_t::array, [&] { return dom_.start_array(size); });
    }
    bool key(json::string_t& name) {
        if (in_ == In::bad) return true;
        if (in_ == In::entry) {
            if (skipped_ == 0) key_ = name;
            return true;
        }
        fds_key_ = depth_ == 1 && name == "fds";
        return dom_.key(name);
    }
    bool end_object() {
        if (in_ == In::entry && skipped_ > 0) return --skipped_, true;
        if (in_ == In::bad) return end_bad();
        --depth_;
        if (in_ != In::entry) return dom_.end_object();
        in_ = In::fds;
        try {
            fds.push_back(fd_from_json(entry_, Path(fds_path_, index_++)));
        } catch (const ReportError& e) {
            if (!fds_error) fds_error = e.what();
        }
        return true;
    }
    bool end_array() {
        if (in_ == In::entry) return --skipped_, true;
        if (in_ == In::bad) return end_bad();
        --depth_;
        if (in_ == In::fds) in_ = In::elsewhere;
        return dom_.end_array();
    }
    // Throws it, as its own type (a parse_error says where the text ended), for parse() to word.
    template <typename Exception>
    bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
        return dom_.parse_error(position, token, error);
    }

private:
    enum class In { elsewhere, fds, entry, bad };  // bad: inside an entry that is no object

    void refuse_element(const json& value) {
        try {
            wrong_type(Path(fds_path_, index_++), "an object", value);
        } catch (const ReportError& e) {
            if (!fds_error) fds_error = e.what();
        }
    }
    bool end_bad() {
        if (--skipped_ == 0) in_ = In::fds;
        return true;
    }

    // A value: into the entry being read, refused as an entry of "fds", or into the tree.
    template <typename ToTree>
    bool scalar(json value, ToTree to_tree) {
        switch (in_) {
            case In::elsewhere: return to_tree();
            case In::fds: refuse_element(value); return true;
            case In::entry:
                if (skipped_ == 0) entry_.items.emplace_back(std::move(key_), std::move(value));
                return true;
            case In::bad: return true;
        }
        return true;
    }

    // An object or array opening: an entry of "fds", something inside one (a
    // field of the wrong type, or an unknown key's: only its type is kept), or the tree's.
    template <typename ToTree>
    bool start(json::value_t type, ToTree to_tree) {
        if (in_ == In::entry) {
            if (skipped_++ == 0) entry_.items.emplace_back(std::move(key_), json(type));
            return true;
        }
        if (in_ == In::bad) return ++skipped_, true;
        if (in_ == In::fds) {
            if (type != json::value_t::object) {
                refuse_element(json(type));
                in_ = In::bad;
                skipped_ = 1;
                return true;
            }
            in_ = In::entry;
            entry_.items.clear();
            ++depth_;
            return true;
        }
        ++depth_;
        return to_tree();
    }

    nlohmann::detail::json_sax_dom_parser<json> dom_;
    int depth_ = 0;         // objects and arrays open, the entry's own included
    bool fds_key_ = false;  // the top level's last key was "fds"
    In in_ = In::elsewhere;
    FlatObject entry_;
    std::string key_;
    int skipped_ = 0;       // objects and arrays open inside the entry
    size_t index_ = 0;
    const Path top_;
    const Path fds_path_{top_, "fds"};
};

// The tree of `text`, and its fds read on the way (ReportSax), or why one is bad.
json parse(std::string_view text, std::vector<FdEntry>& fds, std::optional<std::string>& fds_error) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        throw ReportError("empty input, not a JSON report");
    }
    if (text.size() > kMaxReportBytes) {
        throw ReportError(fmt::format("{} bytes, more than the {} a report may have", text.size(),
                                      format_size(kMaxReportBytes)));
    }
    check_nesting(text);
    try {
        json root;
        ReportSax sax(root);
        json::sax_parse(text, &sax);
        fds = std::move(sax.fds);
        fds_error = std::move(sax.fds_error);
        return root;
    } catch (const json::exception& e) {
        // nlohmann's message starts with "[json.exception.parse_error.101] ";
        // it quotes the token it stopped in, which can be megabytes long.
        std::string detail = e.what();
        if (auto end = detail.find("] "); detail.rfind("[json.", 0) == 0 && end != std::string::npos) {
            detail.erase(0, end + 2);
        }
        detail = printable_excerpt(detail, 200);
        // Not only parse errors: a number such as 1e400 is out_of_range.
        auto* parse_error = dynamic_cast<const json::parse_error*>(&e);
        if (parse_error && parse_error->byte >= text.size()) {
            throw ReportError(fmt::format("truncated JSON: the text ends after {} bytes, inside a value ({})",
                                          text.size(), detail));
        }
        throw ReportError(fmt::format("malformed JSON: {}", detail));
    }
}

}  // namespace

ordered_json history_to_json(const std::vector<CountSample>& history) {
    ordered_json j = ordered_json::array();
    for (const CountSample& sample : history) j.push_back(ordered_json::array({sample.time, sample.count}));
    return j;
}

ordered_json site_to_json(const Site& site) {
    ordered_json j;
    j["id"] = site.id;
    j["count"] = site.count;
    j["call"] = site.call;
    j["oldest_age_s"] = site.oldest_age_s;
    j["newest_age_s"] = site.newest_age_s;
    j["frames"] = ordered_json::array();
    for (const NativeFrame& frame : site.frames) j["frames"].push_back(native_frame_to_json(frame));
    j["python"] = ordered_json::array();
    for (const PythonFrame& frame : site.python) j["python"].push_back(python_frame_to_json(frame));
    if (!site.history.empty()) j["history"] = history_to_json(site.history);
    return j;
}

std::string report_to_json(const Report& report) {
    ordered_json j;
    j["schema"] = report.schema;
    j["pid"] = report.pid;
    j["program"] = report.program;
    j["argv"] = report.argv;
    j["trigger"] = report.trigger;
    j["time"] = report.time;
    j["rlimit_nofile"] = report.rlimit_nofile;
    j["open_count"] = report.open_count;
    if (report.open_before_attach) j["open_before_attach"] = *report.open_before_attach;
    if (!report.user_paths.empty()) j["user_paths"] = report.user_paths;
    j["fds"] = ordered_json::array();  // put in by with_fds
    j["sites"] = ordered_json::array();
    for (const Site& site : report.sites) j["sites"].push_back(site_to_json(site));
    j["bad_closes"] = ordered_json::array();
    for (const BadClose& bad : report.bad_closes) j["bad_closes"].push_back(bad_close_to_json(bad));
    if (report.history_interval_s > 0) {
        j["history"] = {{"interval_s", report.history_interval_s}, {"open_fds", history_to_json(report.open_history)}};
    }
    return with_fds(j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n", report.fds);
}

namespace {

// A report, or a counts answer: the same fields, told apart by `expected`.
Report document_from_json(std::string_view text, const char* expected) {
    std::vector<FdEntry> streamed_fds;
    std::optional<std::string> fds_error;
    json j = parse(text, streamed_fds, fds_error);
    if (!j.is_object()) {
        throw ReportError(fmt::format("not an fdtrack report: the top level is {}, not an object", j.type_name()));
    }
    auto schema = j.find("schema");
    if (schema == j.end()) throw ReportError("not an fdtrack report: no \"schema\" field");
    if (!schema->is_string() || schema->get_ref<const std::string&>() != expected) {
        // Quoted short: it may be a 10 MB string (issue 9).
        std::string quoted = schema->dump(-1, ' ', false, json::error_handler_t::replace);
        throw ReportError(fmt::format("unsupported schema {} (this fdtrack reads \"{}\")", printable_excerpt(quoted),
                                      expected));
    }

    Report report;
    const Path top;
    report.schema = expected;
    report.pid = get_int(j, "pid", top);
    report.program = get_string(j, "program", top);
    report.argv = get_strings(j, "argv", top);
    report.trigger = get_string(j, "trigger", top);
    report.time = get_string(j, "time", top);
    report.rlimit_nofile = get_uint64(j, "rlimit_nofile", top);
    report.open_count = get_int(j, "open_count", top);
    if (find(j, "open_before_attach", top, false)) report.open_before_attach = get_int(j, "open_before_attach", top);
    report.user_paths = get_strings(j, "user_paths", top, false);
    get_array(j, "fds", top);  // there, and an array: its entries were read while parsing
    if (fds_error) throw ReportError(*fds_error);
    report.fds = std::move(streamed_fds);
    const json& sites = get_array(j, "sites", top);
    const Path sites_path(top, "sites");
    for (size_t i = 0; i < sites.size(); ++i) {
        report.sites.push_back(site_from_json(sites[i], Path(sites_path, i)));
    }
    const json& bad_closes = get_array(j, "bad_closes", top);
    const Path bad_closes_path(top, "bad_closes");
    for (size_t i = 0; i < bad_closes.size(); ++i) {
        report.bad_closes.push_back(bad_close_from_json(bad_closes[i], Path(bad_closes_path, i)));
    }
    if (const json* history = find(j, "history", top, false)) {
        const Path history_path(top, "history");
        expect_object(*history, history_path);
        report.history_interval_s = get_int(*history, "interval_s", history_path);
        report.open_history = history_from_json(*history, "open_fds", history_path);
    }
    return report;
}

}  // namespace

Report report_from_json(std::string_view text) { return document_from_json(text, kSchema); }

Report counts_from_json(std::string_view text) { return document_from_json(text, kCountsSchema); }

Report report_from_file(const std::string& path, Links links) {
    std::string name = path == "-" ? "<stdin>" : printable(path);
    std::string text;
    try {
        text = path == "-" ? read_input_fd(STDIN_FILENO, kMaxReportBytes) : read_input_file(path, kMaxReportBytes, links);
    } catch (const InputFileError& e) {
        throw ReportError(fmt::format("{}: cannot read the report: {}", name, e.what()));
    }
    try {
        return report_from_json(text);
    } catch (const ReportError& e) {
        throw ReportError(fmt::format("{}: {}", name, e.what()));
    }
}

}  // namespace fdtrack
