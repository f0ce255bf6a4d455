// --top and --user-paths of fdtrack metrics and fdtrack exporter (metrics_options.h).
#include "tools/metrics_options.h"

#include "tools/user_paths_option.h"

namespace fdtrack::cli {

void add_metrics_options(CLI::App& command, MetricsOptions& options) {
    // Each site is a series in Prometheus: the cap keeps their number bounded
    // however many stacks a process opens fds from.
    command
        .add_option("--top", options.top_sites,
                    "Sites with a series of their own per process, largest first (default 10, 0 to 1000); "
                    "site=\"other\" sums the rest")
        ->check(CLI::Range(0, 1000))
        ->type_name("N");
    add_user_paths_option(command, options.user_paths,
                          "The user's own code, which names each site's location, is exactly what lies under these "
                          "directories, instead of what each process says or fdtrack guesses ('' to guess)");
}

}  // namespace fdtrack::cli
