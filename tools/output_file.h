// Writing a file the user named on the command line (--html OUT): the whole
// new content or, on any failure, the old file untouched.
#pragma once

#include <string>
#include <string_view>

namespace fdtrack::cli {

// Writes `content` to `path` ("-": stdout). A regular file there is replaced,
// atomically: the content goes to a new file beside it, renamed over it once
// complete, so a browser reloading the page never sees half of it. A link at
// `path` is replaced, not followed; a directory, FIFO, socket or device there
// is refused. The new file gets the mode a shell redirection would (0666 less
// the umask). Throws std::runtime_error, naming the path, on failure.
void write_output_file(const std::string& path, std::string_view content);

}  // namespace fdtrack::cli
