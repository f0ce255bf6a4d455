// The interactive `fdtrack top` (top_screen.h).
// refresh(), move() and timeout() as functions, not macros that would rewrite
// names of ours.
#define NCURSES_NOMACROS
#include "tools/top_screen.h"

#include <curses.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cwchar>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "report/printable.h"
#include "report/report_text.h"
#include "tools/control_client.h"

namespace fdtrack::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBarWidth = 20;
constexpr int kEscape = 27;
// Esc alone goes back; curses waits this long (default: a whole second) to
// tell it from the start of an arrow key's sequence.
constexpr int kEscapeDelayMs = 25;

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
        lines.push_back(text.substr(start, end - start));
    }
    if (start < text.size()) lines.push_back(text.substr(start));
    return lines;
}

// `text` as wide characters for curses; in a locale that is not UTF-8, what
// is not ASCII shows as '?' (printable() left only valid UTF-8 there).
std::wstring to_wide(const std::string& text) {
    std::wstring wide(text.size() + 1, L'\0');
    size_t n = mbstowcs(wide.data(), text.c_str(), wide.size());
    if (n != static_cast<size_t>(-1)) {
        wide.resize(n);
        return wide;
    }
    wide.clear();
    for (unsigned char c : text) wide.push_back(c < 0x80 ? static_cast<wchar_t>(c) : L'?');
    return wide;
}

// Draws `text` on line `y`, cut at the screen's edge (curses would wrap it
// onto the next line), the rest of the line cleared, or filled with `attr`
// when `fill`.
void draw_line(int y, const std::string& text, attr_t attr = A_NORMAL, bool fill = false) {
    if (y < 0 || y >= LINES) return;
    std::wstring wide = to_wide(text);
    int width = 0;
    size_t keep = 0;
    for (; keep < wide.size(); ++keep) {
        int w = std::max(wcwidth(wide[keep]), 0);
        if (width + w > COLS) break;
        width += w;
    }
    move(y, 0);
    clrtoeol();
    attron(attr);
    addnwstr(wide.c_str(), static_cast<int>(keep));
    if (fill) {
        for (; width < COLS; ++width) addch(' ');
    }
    attroff(attr);
}

const std::vector<std::string> kHelp = {
    "",
    "Columns",
    "  COUNT    fds open from the site now",
    "  {rate}    change of that count over the last minute, per minute (- : not known yet)",
    "  OLDEST   age of the site's oldest open fd",
    "  CALL     the function that made them",
    "  WHERE    the first frame in the user's own code",
    "",
    "Keys",
    "  s  >  <                       sort by growth, count, oldest age",
    "  Up Down PgUp PgDn Home End    select a site",
    "  Enter                         the site's Python and native stacks and its fds",
    "                                (one full dump of the process)",
    "  Esc  Backspace                back to the sites",
    "  r                             refresh now",
    "  ?                             this help",
    "  q                             quit",
    "",
    "Any other key goes back.",
};

enum class View { sites, site, help };

class Screen {
public:
    Screen(TopTable& table, const TopSource& source, double delay_s, SortKey sort, bool utf8)
        : table_(table), source_(source), delay_s_(delay_s), utf8_(utf8), sort_(sort) {}

    int run() {
        next_refresh_ = Clock::now() + delay();
        for (;;) {
            draw();
            int wait_ms = -1;
            if (!exited_) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_refresh_ - Clock::now());
                wait_ms = static_cast<int>(std::max<int64_t>(left.count(), 0));
            }
            timeout(wait_ms);
            int key = getch();
            if (key == ERR) {
                if (!exited_ && Clock::now() >= next_refresh_) ask_counts();
                continue;
            }
            if (!handle(key)) return 0;
        }
    }

private:
    Clock::duration delay() const {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay_s_));
    }

    void ask_counts() {
        try {
            source_.refresh();
            status_.clear();
        } catch (const std::exception& error) {
            if (has_exited(source_.pid)) {
                exited_ = true;
                status_ = fmt::format("process {} has exited: this is its last answer; q quits", source_.pid);
            } else {
                status_ = fmt::format("{}; asking again every {}s", error.what(), delay_s_);
            }
        }
        next_refresh_ = Clock::now() + delay();
    }

    // false: quit.
    bool handle(int key) {
        if (key == 'q' || key == 'Q') return false;
        if (key == KEY_RESIZE) return true;
        if (view_ == View::help) {
            view_ = before_help_;
            return true;
        }
        if (key == '?' || key == 'h') {
            before_help_ = view_;
            view_ = View::help;
            return true;
        }
        if (key == 'r') {
            ask_counts();
            if (view_ == View::site) ask_site_fds();
            return true;
        }
        int page = std::max(1, LINES - 6);
        int move_by = key == KEY_UP || key == 'k'     ? -1
                      : key == KEY_DOWN || key == 'j' ? 1
                      : key == KEY_PPAGE              ? -page
                      : key == KEY_NPAGE              ? page
                      : key == KEY_HOME               ? -1000000
                      : key == KEY_END                ? 1000000
                                                      : 0;
        if (view_ == View::site) {
            if (key == kEscape || key == KEY_BACKSPACE || key == 127 || key == 8 || key == KEY_LEFT) {
                view_ = View::sites;
            }
            site_scroll_ += move_by;  // drawing keeps it in range
            return true;
        }
        if (key == 's' || key == '>') sort_ = next_sort(sort_);
        if (key == '<') sort_ = previous_sort(sort_);
        if (move_by != 0) {
            selected_ += move_by;
            selected_id_.reset();  // follow the position; drawing takes the new row's site
        }
        if (key == '\n' || key == '\r' || key == KEY_ENTER) open_site();
        return true;
    }

    // The rows in the current order, with the selection kept on the same
    // site across refreshes and sorts (on the same position once it is gone).
    std::vector<TopRow> select_rows() {
        std::vector<TopRow> rows = table_.rows(sort_);
        if (selected_id_) {
            auto found = std::find_if(rows.begin(), rows.end(),
                                      [&](const TopRow& row) { return row.site->id == *selected_id_; });
            if (found != rows.end()) selected_ = static_cast<int>(found - rows.begin());
        }
        selected_ = std::clamp(selected_, 0, std::max(0, static_cast<int>(rows.size()) - 1));
        selected_id_ = rows.empty() ? std::nullopt : std::optional<int>(rows[selected_].site->id);
        return rows;
    }

    void open_site() {
        std::vector<TopRow> rows = select_rows();
        if (rows.empty()) return;
        site_ = *rows[selected_].site;
        site_scroll_ = 0;
        stack_lines_ = split_lines(render_stacks(site_, "  "));
        view_ = View::site;
        ask_site_fds();
    }

    // One full dump, for the fds of the open site alone.
    void ask_site_fds() {
        fd_lines_ = {fmt::format("Asking process {} for its fds (a full dump)...", source_.pid)};
        draw();
        try {
            Report dump = source_.full_dump();
            std::vector<const FdEntry*> fds;
            for (const FdEntry& fd : dump.fds) {
                if (fd.origin == "tracked" && fd.site == site_.id) fds.push_back(&fd);
            }
            fd_lines_ = {fmt::format("{} fd{} open from this site, from a full dump at {}:", fds.size(),
                                     fds.size() == 1 ? "" : "s", printable(dump.time))};
            for (std::string& line : split_lines(render_fds(fds, "  "))) fd_lines_.push_back(std::move(line));
        } catch (const std::exception& error) {
            fd_lines_ = {fmt::format("No fds: {}", error.what())};
        }
    }

    void draw() {
        erase();
        if (view_ == View::sites) draw_sites();
        if (view_ == View::site) draw_site();
        if (view_ == View::help) draw_help();
        if (!status_.empty()) draw_line(LINES - 1, status_, A_BOLD);
        refresh();
    }

    void draw_sites() {
        int y = 0;
        for (const std::string& line : header_lines(table_, kBarWidth)) draw_line(y++, line);
        draw_line(y++, fmt::format("sort: {} (s < >)   Enter: stacks and fds   r: refresh   ?: help   q: quit   "
                                   "every {}s",
                                   sort_name(sort_), delay_s_));
        ++y;
        draw_line(y++, table_title(utf8_), A_REVERSE, true);
        std::vector<TopRow> rows = select_rows();
        if (rows.empty()) draw_line(y, "(no tracked fd open)");
        int height = std::max(1, LINES - 1 - y);
        first_row_ = std::clamp(first_row_, std::max(0, selected_ - height + 1), selected_);
        for (int i = first_row_; i < static_cast<int>(rows.size()) && y < LINES - 1; ++i, ++y) {
            draw_line(y, table_line(rows[i]), i == selected_ ? A_REVERSE : A_NORMAL, i == selected_);
        }
    }

    void draw_site() {
        const Site* now = table_.site(site_.id);
        std::string counts = "no fd of it open now";
        if (now) {
            std::vector<TopRow> rows = table_.rows(sort_);
            auto row = std::find_if(rows.begin(), rows.end(), [&](const TopRow& r) { return r.site == now; });
            counts = fmt::format("{} open, {}/min, oldest {}", now->count, format_rate(row->per_minute),
                                 format_age(now->oldest_age_s));
        }
        draw_line(0, fmt::format("site {}: {} ({}): {}", site_.id, table_.where(site_),
                                 site_.call.empty() ? "?" : printable(site_.call), counts),
                  A_BOLD);
        draw_line(1, "Esc/Backspace: back   Up Down PgUp PgDn: scroll   r: refresh   q: quit");
        std::vector<const std::string*> body;
        for (const std::string& line : stack_lines_) body.push_back(&line);
        static const std::string blank;
        body.push_back(&blank);
        for (const std::string& line : fd_lines_) body.push_back(&line);
        int top = 3, height = std::max(1, LINES - 1 - top);
        site_scroll_ = std::clamp(site_scroll_, 0, std::max(0, static_cast<int>(body.size()) - height));
        for (int i = 0; i < height && site_scroll_ + i < static_cast<int>(body.size()); ++i) {
            draw_line(top + i, *body[site_scroll_ + i]);
        }
    }

    void draw_help() {
        int y = 0;
        draw_line(y++, fmt::format("fdtrack top: the sites of process {} with fds open, every {}s (a counts "
                                   "request: the process describes no fd for it)",
                                   source_.pid, delay_s_),
                  A_BOLD);
        for (const std::string& line : kHelp) {
            size_t rate = line.find("{rate}");
            draw_line(y++, rate == std::string::npos ? line
                                                     : line.substr(0, rate) + (utf8_ ? "Δ/MIN" : "D/MIN") +
                                                           line.substr(rate + 6));
        }
    }

    TopTable& table_;
    const TopSource& source_;
    double delay_s_;
    bool utf8_;
    SortKey sort_;
    Clock::time_point next_refresh_;
    std::string status_;
    bool exited_ = false;
    View view_ = View::sites, before_help_ = View::sites;
    int selected_ = 0, first_row_ = 0;
    std::optional<int> selected_id_;
    Site site_;  // the open site, as it was when opened
    std::vector<std::string> stack_lines_, fd_lines_;
    int site_scroll_ = 0;
};

// The terminal in curses mode for as long as it lives, given back even
// when something throws.
class CursesTerminal {
public:
    CursesTerminal() {
        screen_ = newterm(nullptr, stdout, stdin);
        if (!screen_) {
            const char* term = getenv("TERM");
            throw std::runtime_error(fmt::format("cannot drive this terminal (TERM={}): use --once or --batch N",
                                                 term ? printable(term) : "unset"));
        }
        cbreak();
        noecho();
        keypad(stdscr, TRUE);
        curs_set(0);
        set_escdelay(kEscapeDelayMs);
    }
    ~CursesTerminal() {
        endwin();
        delscreen(screen_);
    }
    CursesTerminal(const CursesTerminal&) = delete;
    CursesTerminal& operator=(const CursesTerminal&) = delete;

private:
    SCREEN* screen_ = nullptr;
};

}  // namespace

int run_top_screen(TopTable& table, const TopSource& source, double delay_s, SortKey sort, bool utf8) {
    CursesTerminal terminal;
    Screen screen(table, source, delay_s, sort, utf8);
    return screen.run();
}

}  // namespace fdtrack::cli
