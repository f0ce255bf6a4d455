"""Only a real handler means the program takes the dump signal (issue #10,
item 7): programs that reset every signal to its default (git before each
exec, shells) or ignore it keep fdtrack's dumps, are told the disposition
they set, and hand that disposition on to what they exec."""
import signal

from conftest import LIBRARY, _environment, _run, load_report, signal_between_lines


def test_a_reset_to_the_default_does_not_take_the_dump_signal(fdtrack_build, tmp_path):
    """git resets every signal to its default before exec, as shells do: that
    is no handler of the program's, so it says nothing and dumps keep
    working; the program still reads back the default it set."""
    out = tmp_path / "out"
    out.mkdir()
    code = ("import os, signal, sys\n"
            "before = signal.signal(signal.SIGUSR1, signal.SIG_DFL)\n"
            "assert before == signal.SIG_DFL and signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            "print('alive')\n")
    env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_OUTPUT": str(out)}, tmp_path)
    proc, stdout, stderr = signal_between_lines(["/usr/bin/python3", "-I", "-c", code], env, signal.SIGUSR1, out)
    assert (proc.returncode, stdout) == (0, "alive\n"), stderr
    assert "handles USR1 itself" not in stderr, stderr
    assert [load_report(p)["trigger"] for p in out.glob("*.json")].count("signal") == 1, stderr


def test_an_ignored_dump_signal_stays_ignored_across_exec(fdtrack_build, tmp_path):
    """A program that ignores USR1 and execs a shell without fdtrack: the
    shell inherits the ignored signal and survives it, as without fdtrack."""
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
            "assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN\n"
            "env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}\n"
            "os.execve('/bin/sh', ['sh', '-c', 'kill -USR1 $$; echo survived'], env)\n")
    for preload in (False, True):
        extra = {"LD_PRELOAD": str(LIBRARY)} if preload else {}
        proc, stdout, stderr = _run(["/usr/bin/python3", "-I", "-c", code], _environment(extra, tmp_path),
                                    tmp_path, 20)
        assert (proc.returncode, stdout) == (0, "survived\n"), f"preload {preload}: {proc.returncode}\n{stderr}"
        assert "handles USR1 itself" not in stderr, stderr


def test_a_real_time_dump_signal_the_program_takes(fdtrack_build, tmp_path):
    """glibc names no real-time signal: saying that fdtrack yields one crashed
    the program (exit 139)."""
    code = ("import signal\n"
            "signal.signal(signal.SIGRTMIN + 3, lambda *a: None)\n"
            "print('took it')\n")
    env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_SIGNAL": "RTMIN+3"}, tmp_path)
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", "-c", code], env, tmp_path, 20)
    assert (proc.returncode, stdout) == (0, "took it\n"), stderr
    assert "handles RTMIN+3 itself" in stderr, stderr
