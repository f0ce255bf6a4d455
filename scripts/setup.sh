#!/usr/bin/env bash
# Installs what fdtrack needs from Debian 12 packages (as root), or prints the
# exact apt line to run; then configures and builds into build/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make pkg-config libunwind-dev libdw-dev libelf-dev libfmt-dev nlohmann-json3-dev
          libcli11-dev googletest libgtest-dev python3 python3-pytest
          # fdtrack exporter's HTTP server
          libcpp-httplib-dev
          # fdtrack top's screen, and the terminal its tests drive it in
          libncurses-dev tmux
          # Every report the integration tests see is checked against docs/report.schema.json
          python3-jsonschema
          # promtool checks fdtrack metrics; a test scrapes fdtrack exporter with a real server
          prometheus
          # The HTML report is loaded in headless Chromium (tests/integration/test_html_report.py)
          chromium
          # Real programs of the compatibility suite (tests/integration/test_real_programs.py)
          git nginx-light wrk redis-server redis-tools postgresql postgresql-contrib
          # fdtrack attach refuses a 32-bit process: its test builds one (test_attach_injector.py)
          gcc-multilib
          # Packaging (tests/integration/test_packaging.py): the wheel (python3 -m build, venvs,
          # patchelf to point the bundled libraries at each other), the .deb (dpkg-shlibdeps) and
          # the man page made from --help
          python3-build python3-venv python3-pip patchelf dpkg-dev help2man
          # Debian's pytest, for the pyenv interpreters too (older ones need these)
          python3-exceptiongroup python3-tomli)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "fdtrack setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Only its binaries are wanted: the tests start their own server on a free
    # port. Where systemd runs, the package has started and enabled one on :9090.
    if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
      systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
  else
    echo "fdtrack setup: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
