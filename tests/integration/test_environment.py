"""fdtrack's settings come from the process's real environment, read once at
load and kept in fdtrack's own memory (issue #10, items 2 and 3): programs
that write their process title over the environment (nginx, redis,
postgres) and programs that export their own getenv (bash) run with the
settings they were given."""
import os
import signal

from conftest import LIBRARY, _environment, load_report, signal_between_lines


def test_settings_survive_a_process_title_written_over_the_environment(build_c, preload_run, tmp_path):
    program = build_c("proctitle.c")
    out = tmp_path / "out"
    out.mkdir()
    result = preload_run([program.path, "--an-argument"], env={"FDTRACK_OUTPUT": str(out)})
    assert result.returncode == 7, result.describe()
    assert result.report is not None, f"the exit report was lost: {sorted(os.listdir(result.workdir))}\n" + result.stderr
    (entry,) = [e for e in result.report.leaks()]
    assert entry["call"] == "open", repr(result.report)
    assert result.report["argv"] == [str(program.path), "--an-argument"], "the command line as it was started"


def test_bash_sees_every_setting(fdtrack_build, tmp_path):
    """bash answers getenv from its own variables: before the fix, a bad
    FDTRACK_DEPTH went unsaid, FDTRACK_OUTPUT was ignored and the dump signal
    USR2 killed bash."""
    out = tmp_path / "out"
    out.mkdir()
    env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_OUTPUT": str(out), "FDTRACK_DEPTH": "bad",
                        "FDTRACK_SIGNAL": "USR2"}, tmp_path)
    # "ready": bash is in main, so fdtrack's handler is in place.
    bash = ["bash", "-c", "exec 3</etc/hostname; echo ready; read line; echo alive"]
    proc, stdout, stderr = signal_between_lines(bash, env, signal.SIGUSR2, out)
    assert (proc.returncode, stdout) == (0, "alive\n"), stderr
    assert sum("FDTRACK_DEPTH" in line for line in stderr.splitlines()) == 1, stderr
    dumps = [load_report(path) for path in out.glob(f"fdtrack.{proc.pid}.*.json")]
    assert "signal" in [d["trigger"] for d in dumps], stderr

