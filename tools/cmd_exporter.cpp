// `fdtrack exporter [--listen ADDR]`: serves /metrics to Prometheus. Each
// scrape finds the caller's tracked processes and asks them all for their
// counts (tools/fleet.h), so a process started after the exporter is in the
// next scrape, and one that hangs costs a scrape at most --timeout.
// The HTTP side is Debian's cpp-httplib.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "report/report_prometheus.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/fleet.h"
#include "tools/metrics_options.h"
#include "tools/seconds_option.h"
#include "tools/user_paths_option.h"

namespace fdtrack::cli {

namespace {

constexpr int kUsageError = 2;

// Loopback by default: the metrics name the programs, pids and code
// locations of every process the caller may dump.
constexpr const char* kDefaultListen = "127.0.0.1:9464";

struct ExporterOptions {
    std::string listen = kDefaultListen;
    MetricsOptions metrics;
    double timeout_s = 2;
};

struct ListenAddress {
    std::string host;  // as bind takes it: no brackets
    int port = 0;
};

// "127.0.0.1:9464", "localhost:9464", "[::1]:9464", or ":9464" (every IPv4
// interface); port 0 picks a free one.
std::optional<ListenAddress> parse_listen(const std::string& text) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string host = text.substr(0, colon), port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        if (host.find(':') == std::string::npos) return std::nullopt;
    } else if (host.find_first_of(":[]") != std::string::npos) {
        return std::nullopt;  // an IPv6 address needs its brackets
    } else if (host.empty()) {
        host = "0.0.0.0";
    }
    int number = std::stoi(port);
    if (number > 65535) return std::nullopt;
    return ListenAddress{host, number};
}

std::string url_host(const std::string& host) {
    return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

// Why a process could not be asked, said once on stderr until the reason
// changes: Prometheus asks every few seconds.
class FailureLog {
public:
    void answered(int pid) {
        std::lock_guard lock(mutex_);
        said_.erase(pid);
    }
    void failed(int pid, const std::string& why) {
        std::lock_guard lock(mutex_);
        auto [it, added] = said_.try_emplace(pid, why);
        if (!added && it->second == why) return;
        it->second = why;
        std::cerr << "fdtrack exporter: " << why << "\n";
    }
    // Processes that are gone are forgotten, so their pids can be reused.
    void keep_only(const std::vector<int>& pids) {
        std::set<int> present(pids.begin(), pids.end());
        std::lock_guard lock(mutex_);
        std::erase_if(said_, [&](const auto& entry) { return !present.count(entry.first); });
    }

private:
    std::mutex mutex_;
    std::map<int, std::string> said_;
};

bool is_gone(int pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

std::string scrape(const ExporterOptions& options, FailureLog& log) {
    std::vector<int> pids = tracked_processes();
    log.keep_only(pids);
    std::vector<Report> reports;
    size_t unanswered = 0, gone = 0;
    for (ProcessCounts& answer : ask_counts(pids, options.timeout_s, "fdtrack exporter")) {
        if (answer.counts) {
            log.answered(answer.pid);
            apply_user_paths(options.metrics.user_paths, *answer.counts);
            reports.push_back(std::move(*answer.counts));
        } else if (is_gone(answer.pid)) {
            ++gone;  // it exited since it was found: no failure
        } else {
            log.failed(answer.pid, answer.error);
            ++unanswered;
        }
    }
    std::vector<MetricFamily> families = process_metrics(reports, options.metrics.top_sites);
    families.push_back({"fdtrack_exporter_processes", "gauge",
                        "Tracked processes of the exporter's user (every user's for root) found at this scrape.",
                        {{{}, static_cast<double>(pids.size() - gone)}}});
    families.push_back({"fdtrack_exporter_unanswered_processes", "gauge",
                        "Of those, the ones that could not be asked (the exporter's stderr says why).",
                        {{{}, static_cast<double>(unanswered)}}});
    return exposition_text(families);
}

constexpr const char* kIndexPage =
    "<!DOCTYPE html>\n<html><head><title>fdtrack exporter</title></head>\n"
    "<body><h1>fdtrack exporter</h1>\n"
    "<p>The open file descriptors of the tracked processes, by allocation site: "
    "<a href=\"/metrics\">/metrics</a></p></body></html>\n";

// SIGINT and SIGTERM are blocked in every thread (the server's inherit the
// mask) and taken by one that stops the server: stop() is not safe in a
// signal handler.
class StopOnSignal {
public:
    explicit StopOnSignal(httplib::Server& server) {
        sigemptyset(&signals_);
        sigaddset(&signals_, SIGINT);
        sigaddset(&signals_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
        waiter_ = std::thread([this, &server] {
            int taken = 0;
            sigwait(&signals_, &taken);
            taken_ = true;
            server.stop();
        });
    }
    // When the server stopped by itself, the waiter is woken to end.
    ~StopOnSignal() {
        if (!taken_) pthread_kill(waiter_.native_handle(), SIGTERM);
        waiter_.join();
    }

private:
    sigset_t signals_;
    std::atomic<bool> taken_{false};
    std::thread waiter_;
};

int run_exporter(const ExporterOptions& options) {
    std::optional<ListenAddress> address = parse_listen(options.listen);
    if (!address) {
        std::cerr << "fdtrack exporter: --listen '" << options.listen
                  << "' is not HOST:PORT (such as 127.0.0.1:9464, [::1]:9464, or :9464 for every interface)\n";
        return kUsageError;
    }
    auto log = std::make_shared<FailureLog>();
    httplib::Server server;
    server.Get("/metrics", [&options, log](const httplib::Request&, httplib::Response& response) {
        response.set_content(scrape(options, *log), kExpositionContentType);
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
        response.set_content(kIndexPage, "text/html; charset=utf-8");
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
        if (response.status == 404) response.set_content("not found: the metrics are at /metrics\n", "text/plain");
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string why = "unknown error";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            why = e.what();
        } catch (...) {
        }
        std::cerr << "fdtrack exporter: a scrape failed: " << why << "\n";
        response.status = 500;
        response.set_content("fdtrack exporter: " + why + "\n", "text/plain");
    });

    errno = 0;
    int port = address->port;
    bool bound = port == 0 ? (port = server.bind_to_any_port(address->host)) > 0
                           : server.bind_to_port(address->host, port);
    if (!bound) {
        std::string why = errno ? std::strerror(errno) : "no such address";
        std::cerr << "fdtrack exporter: cannot listen on " << options.listen << ": " << why << "\n";
        return kUsageError;
    }
    StopOnSignal stop_on_signal(server);
    std::cerr << "fdtrack exporter: serving http://" << url_host(address->host) << ":" << port
              << "/metrics (the tracked processes of "
              << (geteuid() == 0 ? std::string("every user") : "uid " + std::to_string(geteuid())) << ")"
              << std::endl;
    server.listen_after_bind();
    return 0;
}

}  // namespace

Command add_exporter_command(CLI::App& app) {
    auto options = std::make_shared<ExporterOptions>();
    CLI::App* sub = app.add_subcommand(
        "exporter", "Serve /metrics to Prometheus: the open fds of every tracked process of yours, at each scrape");
    sub->add_option("--listen", options->listen,
                    std::string("HOST:PORT to serve on (default ") + kDefaultListen +
                        ", loopback only: the metrics name your code's locations; :PORT for every interface)")
        ->type_name("ADDR");
    add_metrics_options(*sub, options->metrics);
    add_timeout_option(*sub, options->timeout_s, "Seconds each process may take to answer a scrape (default 2)");
    return {sub, [options] { return run_exporter(*options); }};
}

}  // namespace fdtrack::cli
