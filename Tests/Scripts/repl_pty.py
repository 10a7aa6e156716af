#!/usr/bin/env python3
"""Drives the msq REPL through a pseudo-terminal (pexpect): one scenario per run.

usage: repl_pty.py MSQ_BINARY SCENARIO
Scenarios: completion, history, multiline, interrupt, errors. Prints "ok SCENARIO" and
exits 0, or prints what was expected and what the terminal showed and exits 1.
HOME and MSQ_CACHE point at a temporary folder unless set by the caller.
"""
import os
import sys
import tempfile
import time

import pexpect

PROMPT = "msq> "
CONT = "...> "


def spawn(msq, home, extra_env=None):
    env = dict(os.environ)
    env["HOME"] = home
    env["TERM"] = "xterm"
    env.setdefault("MSQ_CACHE", os.path.join(home, "cache"))
    env.pop("MSQ_FAST", None)
    inputrc = os.path.join(home, "inputrc")        # no bracketed-paste escapes around each entry
    with open(inputrc, "w") as f:
        f.write("set enable-bracketed-paste off\n")
    env["INPUTRC"] = inputrc
    if extra_env:
        env.update(extra_env)
    child = pexpect.spawn(msq, [], env=env, encoding="utf-8", timeout=60, dimensions=(40, 200))
    child.logfile_read = Log
    child.expect_exact(PROMPT)
    return child


class _Log:
    """Keeps the terminal output for failure reports."""
    text = ""

    def write(self, s):
        _Log.text += s

    def flush(self):
        pass


Log = _Log()


def run(child, line, expect, timeout=60):
    child.send(line + "\r")
    for e in ([expect] if isinstance(expect, str) else expect):
        child.expect_exact(e, timeout=timeout)
    child.expect_exact(PROMPT, timeout=timeout)


def completion(msq, home):
    c = spawn(msq, home)
    run(c, "xs_long_name = [1, 2]", [])
    # Readline redraws only what changed: expect the completed rest of each word.
    c.send("xs_lo\t")
    c.expect_exact("ng_name")
    c.send(".le\t")
    c.expect_exact("ngth")
    run(c, "", "2")
    c.send("len(va\t")                      # named argument
    c.expect_exact("lue: ")
    run(c, "xs_long_name)", "2")
    c.send("plot_exp\t")                    # a builtin gets its opening bracket
    c.expect_exact("erts(")
    c.send("\x15")                          # Ctrl-U clears the line
    c.send(":he\t")                         # meta commands
    c.expect_exact("lp")
    run(c, " len", "len(value)")
    c.send("squad(layout: \"alt\t")         # values inside strings
    c.expect_exact("ernate")
    c.send("\x15")
    run(c, "1 + 1", "2")
    c.sendeof()
    c.expect(pexpect.EOF)


def history(msq, home):
    c = spawn(msq, home)
    run(c, "hist_var = 41", [])
    run(c, "zs = [1,\r 2]", [])             # a multi-line entry is kept as one
    c.send(":quit\r")
    c.expect(pexpect.EOF)
    path = os.path.join(home, ".msq_history")
    text = open(path).read()
    assert "hist_var = 41" in text, "history file lacks the entry: %r" % text
    c = spawn(msq, home)
    c.send("\x10")                          # Ctrl-P: previous entry
    c.expect_exact("zs = [1, 2]")
    c.send("\x10")
    c.expect_exact("hist_var = 41")
    run(c, "", [])
    run(c, "hist_var + 1", "42")
    c.sendeof()
    c.expect(pexpect.EOF)


def multiline(msq, home):
    c = spawn(msq, home)
    c.send("ys = [1,\r")
    c.expect_exact(CONT)
    c.send("2,  # a comment inside the brackets\r")
    c.expect_exact(CONT)
    run(c, "3]", [])
    run(c, "ys", "[1, 2, 3]")
    c.send("len(\r")
    c.expect_exact(CONT)
    c.send("val\t")                         # named arguments complete on continuation lines
    c.expect_exact("ue: ")
    run(c, "ys)", "3")
    c.send("abandoned = [1,\r")
    c.expect_exact(CONT)
    c.sendintr()                            # Ctrl-C drops the unfinished entry
    c.expect_exact(PROMPT)
    run(c, ":vars", "ys = [1, 2, 3]")
    c.sendeof()
    c.expect(pexpect.EOF)


def interrupt(msq, home):
    c = spawn(msq, home)
    run(c, 'data = scenes(size: 32, train: 256, test: 64, tasks: ["segment", "depth"])', [], timeout=120)
    run(c, "m = squad(tasks: data, dim: 32, depth: 2, experts: 4, head_dim: 8)", [])
    c.send("train(m, data, epochs: 100, batch: 16)\r")
    c.expect(r"train \d+/1600", timeout=120)      # the one-line meter
    time.sleep(1.0)
    c.sendintr()
    c.expect_exact("interrupted: stopped after step", timeout=60)
    c.expect_exact(PROMPT, timeout=60)
    c.send("m.step\r")
    c.expect(r"m\.step\r\n(\d+)\r\n")
    steps = int(c.match.group(1))
    assert 0 < steps < 1600, "steps after Ctrl-C: %d" % steps
    c.expect_exact(PROMPT)
    run(c, "step(m, data, batch: 16)", "step %d  loss " % (steps + 1))
    run(c, "eval(m, data)", "eval test (64 images): segment miou")
    c.sendintr()                            # Ctrl-C at an empty prompt: a fresh prompt
    c.expect_exact(PROMPT)
    run(c, "m.tasks", '["segment", "depth"]')
    c.sendeof()
    c.expect(pexpect.EOF)


def errors(msq, home):
    nb = os.path.join(home, "small.msq")
    with open(nb, "w") as f:
        f.write("# %% one\nloaded_a = 5\n# %% two\nloaded_b = loaded_a * 2\nloaded_b\n")
    c = spawn(msq, home)
    run(c, "nope_name + 1", ["name error: unknown name 'nope_name'", "^^^^^^^^^"])
    run(c, "1 + 1", "2")
    run(c, "len(1, 2, 3)", "len takes at most 1 positional argument")
    run(c, "scenes(tasks: [\"dept\"])", "did you mean 'depth'?")
    run(c, "x = )", "syntax error: unmatched ')'")
    run(c, "x = 7", [])
    run(c, ":vars", "x = 7")
    run(c, ":help train", "train(model, data, epochs: 1")
    run(c, ":time 6 * 7", ["42", "time: "])
    run(c, ":plugins", "scenes")
    run(c, ":bogus", "unknown command ':bogus'")
    run(c, ":load " + nb, ["10", "2 cells run"])
    run(c, "loaded_b + x", "17")
    c.send(":quit\r")
    c.expect(pexpect.EOF)


SCENARIOS = {f.__name__: f for f in (completion, history, multiline, interrupt, errors)}

if __name__ == "__main__":
    msq, name = sys.argv[1], sys.argv[2]
    home = os.environ.get("MSQ_TEST_HOME") or tempfile.mkdtemp(prefix="msq-repl-")
    try:
        SCENARIOS[name](msq, home)
    except (pexpect.TIMEOUT, pexpect.EOF, AssertionError) as e:
        print("FAILED %s: %s\n--- terminal output ---\n%s" % (name, str(e).splitlines()[0] if str(e) else type(e).__name__, Log.text[-3000:]))
        sys.exit(1)
    print("ok " + name)
