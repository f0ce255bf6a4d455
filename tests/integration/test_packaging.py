"""fdtrack installed the three ways its users install things (issue #12), each used as they would:
the Python wheel in a fresh venv of every interpreter (the CLI, `python -m fdtrack`, `pytest
--fdtrack`, and its bundled native libraries where the system's are hidden), the Debian package
installed with apt and removed again, and the CMake and pkg-config packages used by a project
outside the tree."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, load_report, python_markers
from test_api import API_DIR, failure_section, gtest_outcomes, marked_line

HERE = Path(__file__).resolve().parent / "packaging"
APP = HERE / "leaky_app.py"
GLIBC = ("libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "ld-linux-x86-64.so.2")
# What fdtrack dlopen()s (preload/native_stack.cpp, preload/symbolizer.cpp) and libdw needs: the
# libraries the issue names, which the wheel must carry.
DLOPENED = ("libunwind.so.8", "libdw.so.1", "libelf.so.1")


def version():
    """The project's version, as CMake has it (project() in CMakeLists.txt)."""
    cache = (BUILD_DIR / "CMakeCache.txt").read_text()
    return re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.+)$", cache, re.MULTILINE).group(1)


def run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run([str(arg) for arg in argv], **kwargs)


def checked(argv, **kwargs):
    proc = run(argv, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def bare_environment(scratch):
    """What "nothing else set" means: no PYTHONPATH, no FDTRACK_*, no LD_*, a PATH without the venv."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8"}


def elf_needed(path):
    dynamic = checked(["readelf", "-d", path]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic), \
        re.findall(r"\(RUNPATH\)\s+Library runpath: \[([^\]]+)\]", dynamic)


def app_leak_is_reported(report_path):
    """The exit report names the app's marked line, in its Python stack."""
    report = load_report(report_path)
    (line,) = python_markers(APP, "LEAK")["wheel_app"]
    leaks = [entry for entry in report.leaks() if entry["target"] == "/etc/hostname"]
    assert leaks, report
    frames = report.python_of(leaks[0])
    assert any(f["file"].endswith("leaky_app.py") and f["line"] == line for f in frames), frames


# ---- the wheel --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(fdtrack_build, session_tmp):
    """The wheel, built once per session from the source tree as a user would (python3 -m build,
    Debian's, offline), reusing the build directory under test."""
    out = session_tmp / "wheel"
    # From elsewhere than the source tree: its build/ directory would shadow the `build` module.
    checked([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-C", f"build-dir={BUILD_DIR}",
             "--outdir", out, SOURCE_DIR], cwd=session_tmp, timeout=900)
    (built,) = out.glob("*.whl")
    return built


_venvs = {}


def venv_with_wheel(python, wheel, root, name, system_site_packages=False):
    """A fresh venv of `python` with the wheel installed by its own pip, from the file; made once."""
    if name not in _venvs:
        path = root / f"venv-{name}"
        checked([python, "-m", "venv", *(["--system-site-packages"] if system_site_packages else []), path])
        checked([path / "bin" / "python", "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
                 "--no-cache-dir", wheel], env=bare_environment(root))
        _venvs[name] = path
    return _venvs[name]


@pytest.fixture(scope="session")
def debian_venv(wheel, session_tmp):
    """Debian's python3 in a venv that also sees Debian's pytest (--system-site-packages)."""
    return venv_with_wheel("/usr/bin/python3", wheel, session_tmp, "debian-site", system_site_packages=True)


# Debian's pytest and what it imports, all pure Python (python3-pytest, python3-exceptiongroup and
# python3-tomli for interpreters older than 3.11).
DEBIAN_PYTEST = ("pytest", "_pytest", "py.py", "pluggy", "iniconfig", "packaging", "attr", "exceptiongroup", "tomli")


@pytest.fixture(scope="session")
def debian_pytest(session_tmp):
    """A folder holding only Debian's pytest and its dependencies (links), which a venv of another
    interpreter reads through a .pth file: pytest installed there, as far as PyPI, out of reach
    here, would have installed it."""
    folder = session_tmp / "debian-pytest"
    folder.mkdir()
    for name in DEBIAN_PYTEST:
        installed_at = Path("/usr/lib/python3/dist-packages") / name
        assert installed_at.exists(), f"{installed_at} is missing (scripts/setup.sh installs it)"
        (folder / name).symlink_to(installed_at)
    return folder


@pytest.fixture
def venv_with_pytest(request, interpreter, wheel, session_tmp, debian_pytest):
    """A venv of `interpreter` with the wheel and pytest: Debian's own python3 sees its pytest."""
    if interpreter.path == Path("/usr/bin/python3"):
        return request.getfixturevalue("debian_venv")
    venv = venv_with_wheel(interpreter.path, wheel, session_tmp, interpreter.name)
    site = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    (Path(site.strip()) / "debian_pytest.pth").write_text(f"{debian_pytest}\n")
    return venv


def test_wheel_carries_the_cli_the_library_and_every_native_library_they_need(wheel, tmp_path):
    assert wheel.name == f"fdtrack-{version()}-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
        entry_points = archive.read(f"fdtrack-{version()}.dist-info/entry_points.txt").decode()
    assert {"fdtrack/bin/fdtrack", "fdtrack/lib/libfdtrack.so", "fdtrack/__init__.py", "fdtrack/pytest.py",
            "fdtrack/pytest_option.py", "fdtrack/__main__.py"} <= names
    assert "fdtrack = fdtrack.pytest_option" in entry_points and "fdtrack = fdtrack.cli:main" in entry_points
    bundled = {name.split("/", 1)[1] for name in names if name.startswith("fdtrack.libs/")}
    assert set(DLOPENED) <= bundled, bundled
    assert not bundled & set(GLIBC), "glibc's own libraries must come from the system"
    # Every library any ELF file in the wheel links is glibc's or in the wheel, found by RUNPATH.
    for name in ["fdtrack/bin/fdtrack", "fdtrack/lib/libfdtrack.so"] + [f"fdtrack.libs/{b}" for b in bundled]:
        needed, runpath = elf_needed(tmp_path / name)
        assert set(needed) <= bundled | set(GLIBC), f"{name} links {set(needed) - bundled - set(GLIBC)}"
        expected = "$ORIGIN" if name.startswith("fdtrack.libs/") else "$ORIGIN/../../fdtrack.libs"
        assert runpath == [expected], f"{name}: RUNPATH {runpath}"


def test_wheel_installs_and_runs_in_a_fresh_venv(interpreter, wheel, session_tmp, tmp_path):
    venv = venv_with_wheel(interpreter.path, wheel, session_tmp, interpreter.name)
    env = bare_environment(tmp_path)
    python = venv / "bin" / "python"

    said = checked([venv / "bin" / "fdtrack", "--version"], env=env)
    assert said.stdout.strip() == f"fdtrack {version()}"

    # The console script, then `python -m fdtrack run SCRIPT` (options before the script).
    checked([venv / "bin" / "fdtrack", "run", "--json", tmp_path / "cli.json", "--", python, APP], env=env)
    app_leak_is_reported(tmp_path / "cli.json")
    checked([python, "-m", "fdtrack", "run", "--json", tmp_path / "module.json", "--no-python", APP], env=env)
    report = load_report(tmp_path / "module.json")
    assert report["argv"][1:] == [str(APP)] and Path(report["program"]).name.startswith("python")
    checked([python, "-m", "fdtrack", "run", "--json", tmp_path / "module2.json", APP], env=env)
    app_leak_is_reported(tmp_path / "module2.json")


def test_python_m_fdtrack_knows_which_run_options_are_flags(fdtrack_build):
    """`python -m fdtrack run [OPTIONS] app.py` finds app.py by knowing which options take no value."""
    # Read from the source as a file, not imported: no `fdtrack` module stays in this process.
    spec = importlib.util.spec_from_file_location("fdtrack_cli", SOURCE_DIR / "integrations/pytest/fdtrack/cli.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    help_text = checked([BUILD_DIR / "fdtrack", "run", "--help"]).stdout
    options = help_text.split("Options:", 1)[1]
    flags = set()
    for line in options.splitlines():
        words = re.split(r"\s{2,}", line.strip())[0]
        if words.startswith("-") and " " not in words:
            flags.update(words.split(","))
    assert flags == set(cli.RUN_FLAGS), f"fdtrack run's flags are {sorted(flags)}"


def hidden_system_libraries(keep_for):
    """The system's copies of what the wheel bundles (and fmt), without those `keep_for` (the
    interpreter, the shell) need themselves: what the namespace below makes unloadable."""
    cache = checked(["ldconfig", "-p"]).stdout
    paths = set()
    for line in cache.splitlines():
        name, _, where = line.strip().partition(" => ")
        soname = name.split(" ", 1)[0]
        if "x86-64" in name and re.match(r"lib(unwind|dw|elf|fmt|cpp-httplib|ncursesw|tinfo|stdc\+\+|gcc_s|ssl|"
                                         r"crypto|brotli\w*|bz2|lzma|z)[-.]", soname):
            paths.add(os.path.realpath(where))
    needed = set()
    for program in keep_for:
        for line in checked(["ldd", program]).stdout.splitlines():
            match = re.search(r"=> (\S+) \(", line)
            if match:
                needed.add(os.path.realpath(match.group(1)))
    return sorted(paths - needed)


def in_namespace_without(libraries, argv, env):
    """Runs argv in a private mount namespace where each of `libraries` is /dev/null: installed for
    ldconfig, unloadable for the loader. Nothing changes outside the namespace."""
    script = 'for f in $HIDDEN; do mount --bind /dev/null "$f" || exit 99; done; exec "$@"'
    return run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv],
               env={**env, "HIDDEN": " ".join(libraries)})


def test_wheel_runs_where_libunwind_libdw_and_fmt_are_not_installed(debian_venv, tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) to hide the system's libraries in a private mount namespace")
    python = debian_venv / "bin" / "python"
    hidden = hidden_system_libraries([os.path.realpath(python), "/bin/sh"])
    for name in ("libunwind", "libdw", "libelf"):
        assert any(Path(path).name.startswith(name) for path in hidden), f"{name} is not installed here"
    env = bare_environment(tmp_path)

    # The namespace really hides them: the CLI and library built against the system fail there.
    built = in_namespace_without(hidden, [BUILD_DIR / "fdtrack", "--version"], env)
    assert built.returncode == 127 and "error while loading shared libraries" in built.stderr, built
    preloaded = in_namespace_without(hidden, [python, APP, "--maps"], {**env, "LD_PRELOAD": str(BUILD_DIR / "libfdtrack.so")})
    assert preloaded.returncode == 0, preloaded.stderr
    assert "mapped" not in preloaded.stdout, preloaded.stdout

    # The wheel's, with its own copies: the CLI runs, the library loads libunwind and libdw.
    tracked = in_namespace_without(
        hidden, [debian_venv / "bin" / "fdtrack", "run", "--json", tmp_path / "r.json", "--", python, APP, "--maps"], env)
    assert tracked.returncode == 0, tracked.stderr
    assert "dumped True" in tracked.stdout
    mapped = [Path(line.split(" ", 1)[1]) for line in tracked.stdout.splitlines() if line.startswith("mapped ")]
    assert {path.name for path in mapped} == {"libunwind.so.8", "libdw.so.1"}, tracked.stdout
    assert all(path.parent.name == "fdtrack.libs" and debian_venv in path.parents for path in mapped), mapped
    app_leak_is_reported(tmp_path / "r.json")
    # Symbols from the bundled libdw: the native frames of the app's site are named.
    report = load_report(tmp_path / "r.json")
    entry = next(e for e in report.leaks() if e["target"] == "/etc/hostname")
    assert any(frame.get("function") for frame in report.frames_of(entry)), report.frames_of(entry)


def pytest_outcomes(stdout):
    return dict((name, status) for status, name in re.findall(r"^(PASSED|FAILED) \S*::(\w+)", stdout, re.MULTILINE))


def test_pytest_fdtrack_restarts_under_the_preload_and_fails_each_leaking_test(venv_with_pytest, tmp_path):
    shutil.copy(API_DIR / "leaky_tests.py", tmp_path / "leaky_tests.py")
    proc = run([venv_with_pytest / "bin" / "python", "-m", "pytest", "-p", "no:cacheprovider", "--fdtrack", "-rA",
                "-k", "not test_clean", "leaky_tests.py"], cwd=tmp_path, env=bare_environment(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert pytest_outcomes(proc.stdout) == {
        "test_leaks_socket": "FAILED",
        "test_leaks_os_open": "FAILED",
        "test_cycle_is_collected": "PASSED",
        "test_fixture_fd_is_not_the_test_s": "PASSED",
        "test_marked_leak": "PASSED",
        "test_ignored_fd": "PASSED",
    }, proc.stdout + proc.stderr
    # Restarted once, with its arguments: one session, test_clean still deselected.
    assert proc.stdout.count("test session starts") == 1
    assert proc.stdout.count("fdtrack: checking every test for leaked fds") == 1
    assert "1 deselected" in proc.stdout
    for test, marker in (("test_leaks_socket", "pytest_socket"), ("test_leaks_os_open", "pytest_os_open")):
        section = failure_section(proc.stdout, test)
        line = marked_line(API_DIR / "leaky_tests.py", f"LEAK: {marker}")
        assert f"leaky_tests.py:{line} in {test}" in section, section
        assert "left open 1 fd" in section


def test_pytest_fdtrack_restarts_at_most_once(debian_venv, tmp_path):
    python = debian_venv / "bin" / "python"
    # A restarted run that is still not tracked (the preload failed) stops: a usage error, no loop.
    shutil.copy(API_DIR / "leaky_tests.py", tmp_path / "leaky_tests.py")
    again = run([python, "-m", "pytest", "-p", "no:cacheprovider", "--fdtrack", "leaky_tests.py"], cwd=tmp_path,
                env={**bare_environment(tmp_path), "FDTRACK_PYTEST_RESTARTED": "1"})
    assert again.returncode == 4 and "libfdtrack.so is still not loaded" in again.stderr, again
    assert "test session starts" not in again.stdout
    # The restart's marker does not reach the tests, whose own `pytest --fdtrack` must restart.
    (tmp_path / "test_marker.py").write_text(
        "import os\n\ndef test_no_marker():\n    assert 'FDTRACK_PYTEST_RESTARTED' not in os.environ\n")
    marker = run([python, "-m", "pytest", "-p", "no:cacheprovider", "--fdtrack", "test_marker.py"], cwd=tmp_path,
                 env=bare_environment(tmp_path))
    assert marker.returncode == 0 and "1 passed" in marker.stdout, marker.stdout + marker.stderr


def test_pytest_without_the_flag_loads_nothing(debian_venv, tmp_path):
    shutil.copy(HERE / "plain_tests.py", tmp_path / "plain_tests.py")
    proc = run([debian_venv / "bin" / "python", HERE / "no_flag_probe.py", "plain_tests.py"], cwd=tmp_path,
               env=bare_environment(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = dict(line.split(" ", 1) for line in proc.stdout.splitlines()[-4:])
    # Registered through its entry point (the marker is known: --strict-markers passes), the leak
    # not checked, and neither the checker, ctypes nor the library loaded.
    assert said == {"status": "0", "registered": "True", "imported": "-", "preloaded": "False"}, proc.stdout
    assert "fdtrack" not in proc.stdout.split("status", 1)[0], proc.stdout


# ---- the Debian package ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def deb(fdtrack_build, session_tmp):
    out = session_tmp / "deb"
    checked(["cpack", "--config", BUILD_DIR / "CPackConfig.cmake", "-G", "DEB", "-B", out], timeout=600)
    (built,) = out.glob("fdtrack_*.deb")
    return built


def apt(*args):
    # The lock may be held for a while by another apt on the machine.
    return run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "-y", "-q", *args],
               env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=600)


def installed(package):
    status = run(["dpkg-query", "-W", "-f=${Status}", package])
    return status.returncode == 0 and "install ok installed" in status.stdout


def test_debian_package_installs_with_apt_runs_and_is_removed_cleanly(deb, tmp_path):
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("installing a .deb needs root and apt-get")
    if installed("fdtrack"):
        pytest.skip("a fdtrack package is installed on this machine already; not replacing it")
    fields = checked(["dpkg-deb", "--field", deb, "Depends"]).stdout
    for dependency in ("libunwind8", "libdw1", "libc6", "libcpp-httplib", "libncursesw6", "libstdc++6"):
        assert dependency in fields, fields

    files = []
    try:
        installing = apt("install", "--no-install-recommends", deb)
        assert installing.returncode == 0, installing.stdout + installing.stderr
        files = checked(["dpkg-query", "-L", "fdtrack"]).stdout.split()
        contents = {path for path in files if os.path.isfile(path)}
        names = {Path(path).name for path in contents}
        assert "/usr/bin/fdtrack" in contents
        assert {"libfdtrack.so", "libfdtrack_gtest.a", "libfdtrack_gtest_main.a", "fdtrack.h", "fdtrack_gtest.h",
                "fdtrackConfig.cmake", "fdtrack.pc", "fdtrack.1.gz"} <= names, sorted(names)
        assert "/usr/lib/python3/dist-packages/fdtrack/pytest_option.py" in contents
        assert f"/usr/lib/python3/dist-packages/fdtrack-{version()}.dist-info/entry_points.txt" in contents
        man = checked(["sh", "-c", "zcat /usr/share/man/man1/fdtrack.1.gz"]).stdout
        assert ".TH FDTRACK" in man and "fdtrack run" in man and "--error-exitcode" in man

        env = bare_environment(tmp_path)
        assert checked(["fdtrack", "--version"], env=env).stdout.strip() == f"fdtrack {version()}"
        # The demo (scripts/demo.sh) with the installed CLI, which finds the installed library.
        demo = run(["fdtrack", "run", "--json", tmp_path / "demo.json", "--", BUILD_DIR / "examples" / "leaky"], env=env)
        assert "leaky.c" in demo.stderr and "read_config" in demo.stderr, demo.stderr
        report = load_report(tmp_path / "demo.json")
        assert len([e for e in report.leaks() if e["target"] == "/etc/hostname"]) == 6
        maps = checked(["fdtrack", "run", "--", "/bin/cat", "/proc/self/maps"], env=env).stdout
        (library,) = {line.split()[-1] for line in maps.splitlines() if "libfdtrack" in line}
        assert library in contents, library
        preload = checked(["pkg-config", "--variable=preload_library", "fdtrack"], env=env).stdout.strip()
        assert os.path.realpath(preload) == os.path.realpath(library)

        # Debian's python3 finds the plugin, and its option, with nothing set.
        shutil.copy(API_DIR / "leaky_tests.py", tmp_path / "leaky_tests.py")
        tests = run(["/usr/bin/python3", "-m", "pytest", "-p", "no:cacheprovider", "--fdtrack", "-rA", "leaky_tests.py"],
                    cwd=tmp_path, env=env)
        assert re.search(r"\b2 failed, 5 passed\b", tests.stdout), tests.stdout + tests.stderr
        module = run(["/usr/bin/python3", "-m", "fdtrack", "run", "--json", tmp_path / "m.json", APP], env=env)
        assert module.returncode == 0, module.stderr
        app_leak_is_reported(tmp_path / "m.json")
    finally:
        removing = apt("remove", "--purge", deb.name.split("_", 1)[0])
    assert removing.returncode == 0, removing.stdout + removing.stderr
    assert not installed("fdtrack")
    left = [path for path in files if os.path.lexists(path) and not os.path.isdir(path)]
    assert not left, left
    assert not os.path.exists("/usr/lib/python3/dist-packages/fdtrack"), "bytecode left behind"


# ---- the CMake and pkg-config packages -----------------------------------------------------------


@pytest.fixture(scope="session")
def install_prefix(fdtrack_build, session_tmp):
    prefix = session_tmp / "prefix"
    checked(["cmake", "--install", BUILD_DIR, "--prefix", prefix])
    return prefix


def check_leaky_gtest_failed(stdout, source):
    assert gtest_outcomes(stdout) == {"Fds.Leaks": "FAILED", "Fds.Clean": "OK", "Fds.IgnoredFd": "OK",
                                      "Fds.AllowedLeak": "OK", "WithFixture.ClosedInTearDown": "OK"}, stdout
    line = marked_line(API_DIR / "leaky_gtest.cpp", "LEAK: gtest_leak")
    assert f"{source.name}:{line} in " in stdout and "left open 1 fd" in stdout, stdout


def test_cmake_package_gives_a_project_outside_the_tree_the_listener(install_prefix, tmp_path):
    project, build = tmp_path / "uses_fdtrack", tmp_path / "build"
    shutil.copytree(HERE / "uses_fdtrack", project)
    shutil.copy(API_DIR / "leaky_gtest.cpp", project / "leaky_gtest.cpp")
    checked(["cmake", "-S", project, "-B", build, f"-DCMAKE_PREFIX_PATH={install_prefix}", "-DCMAKE_BUILD_TYPE=Debug"])
    checked(["cmake", "--build", build])

    found = dict(line.split(" ", 1) for line in (build / "found.txt").read_text().splitlines())
    assert found["preload_library"] == found["preload_target"] == str(install_prefix / "lib" / "libfdtrack.so")
    assert found["cli"] == str(install_prefix / "bin" / "fdtrack")
    assert found["headers"] == str(install_prefix / "include")

    # Its suite under the preload (the project's own ctest test): the leaking test fails it.
    tested = run(["ctest", "--test-dir", build, "--output-on-failure"])
    assert tested.returncode != 0 and "leaky_gtest_tracked (Failed)" in tested.stdout, tested.stdout
    check_leaky_gtest_failed(tested.stdout, project / "leaky_gtest.cpp")
    # Without the preload the listener is inert and the suite passes.
    assert run([build / "leaky_gtest"]).returncode == 0


def test_pkg_config_gives_a_build_outside_the_tree_the_listener_and_the_library(install_prefix, tmp_path):
    env = {**os.environ, "PKG_CONFIG_PATH": str(install_prefix / "lib" / "pkgconfig")}
    flags = checked(["pkg-config", "--cflags", "--libs", "fdtrack-gtest-main"], env=env).stdout.split()
    source = tmp_path / "leaky_gtest.cpp"
    shutil.copy(API_DIR / "leaky_gtest.cpp", source)
    checked(["g++", "-std=c++17", "-g", source, *flags, "-lpthread", "-o", tmp_path / "leaky_gtest"])
    library = checked(["pkg-config", "--variable=preload_library", "fdtrack"], env=env).stdout.strip()
    assert library == str(install_prefix / "lib" / "libfdtrack.so")
    tracked = run([tmp_path / "leaky_gtest"], env={**bare_environment(tmp_path), "LD_PRELOAD": library})
    assert tracked.returncode != 0
    check_leaky_gtest_failed(tracked.stdout, source)
