"""The msq Jupyter kernel through jupyter_client: one scenario per run.

usage: kernel_tests.py MSQ_BINARY SCENARIO
Scenarios: spec (jupyter_kernel_test.KernelTests), notebook (nbclient runs the converted
notebooks/quickstart.msq with MSQ_FAST=1), interrupt (control message and SIGINT during
train), forged (bad HMAC not executed; malformed JSON and unknown types answered).
Installs the kernelspec into a temporary prefix; prints "ok SCENARIO" and exits 0, else 1.
"""
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from queue import Empty

MSQ, SCENARIO = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = tempfile.mkdtemp(prefix="msq-kernel-")
subprocess.run([MSQ, "kernel", "install", "--prefix", WORK], check=True, stdout=subprocess.DEVNULL)
os.environ["JUPYTER_PATH"] = os.path.join(WORK, "share", "jupyter")
os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(WORK, "runtime")
os.environ.setdefault("MSQ_CACHE", os.path.join(WORK, "cache"))
os.chdir(WORK)

from jupyter_client.manager import start_new_kernel  # noqa: E402
import jupyter_kernel_test  # noqa: E402

SMALL = ('data = scenes(size: 16, train: 64, test: 16, tasks: ["segment", "depth"])\n'
         "m = squad(tasks: data, dim: 16, depth: 2, experts: 4, head_dim: 8)")


class MSQKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "msq"
    language_name = "msq"
    file_extension = ".msq"
    code_hello_world = 'print("hello, world")'
    completion_samples = [{"text": "prin", "matches": {"print"}},
                          {"text": "squad(tasks: data, exp", "matches": {"experts:", "expert_hidden:"}}]
    complete_code_samples = ["1 + 1", "x = [1, 2]", ":vars"]
    incomplete_code_samples = ["x = [1,", "print("]
    invalid_code_samples = ["1 + )", "x = = 2"]
    code_inspect_sample = "train"
    code_execute_result = [{"code": "1 + 1", "result": "2"}, {"code": '"a" + "b"', "result": "ab"}]
    code_display_data = [{"code": SMALL + '\nstep(m, data, batch: 8)\nplot_experts(m, "experts.png")', "mime": "image/png"}]
    code_history_pattern = "1*1"
    supported_history_operations = ("tail", "range", "search")
    code_generate_error = "1 + oops"


def collect(kc, msg_id, timeout=120):
    """IOPub messages of one request until its idle status."""
    out = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=1)
        except Empty:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return out
        out.append(m)
    raise AssertionError("no idle status for %s within %ss" % (msg_id, timeout))


def execute(kc, code, timeout=120):
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=timeout)
    assert reply["parent_header"]["msg_id"] == msg_id, reply
    return reply["content"], collect(kc, msg_id, timeout)


def text_of(msgs):
    parts = []
    for m in msgs:
        c = m["content"]
        if m["msg_type"] == "stream":
            parts.append(c["text"])
        elif m["msg_type"] in ("execute_result", "display_data") and "text/plain" in c["data"]:
            parts.append(c["data"]["text/plain"])
    return "\n".join(parts)


def spec():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(MSQKernelTests)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    assert result.wasSuccessful(), "jupyter_kernel_test failures"
    assert not result.skipped or all("stderr" in str(t) or "pager" in str(t) or "clear_output" in str(t) or "welcome" in str(t)
                                      for t, _ in result.skipped), result.skipped


def notebook():
    import nbformat
    from nbclient import NotebookClient
    os.environ["MSQ_FAST"] = "1"
    nb_path = os.path.join(WORK, "quickstart.ipynb")
    subprocess.run([MSQ, "convert", os.path.join(ROOT, "notebooks", "quickstart.msq"), nb_path], check=True)
    nb = nbformat.read(nb_path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "msq", nb.metadata
    NotebookClient(nb, kernel_name="msq", timeout=600, resources={"metadata": {"path": WORK}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    pngs = [o for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]
    assert pngs, "no image/png output"
    text = []
    for o in outputs:
        if o.output_type == "stream":
            text.append(o.text)
        elif "text/plain" in o.get("data", {}):
            text.append(o.data["text/plain"])
    kernel_text = "\n".join(text)
    run = subprocess.run([MSQ, "run", "--fast", os.path.join(ROOT, "notebooks", "quickstart.msq")],
                         cwd=tempfile.mkdtemp(dir=WORK), capture_output=True, text=True, check=True)
    metrics = [l for l in run.stdout.splitlines() if re.match(r"(eval|trivial) test", l)]
    assert len(metrics) >= 2, run.stdout
    for line in metrics:
        assert line in kernel_text, "msq run printed %r; the kernel gave:\n%s" % (line, kernel_text)
    # the notebook converts back to the same cells
    back = os.path.join(WORK, "back.msq")
    subprocess.run([MSQ, "convert", nb_path, back], check=True)
    assert open(back).read() == open(os.path.join(ROOT, "notebooks", "quickstart.msq")).read()


def interrupt():
    km, kc = start_new_kernel(kernel_name="msq", startup_timeout=60)
    try:
        reply, _ = execute(kc, SMALL)
        assert reply["status"] == "ok", reply
        for how in ("message", "signal"):
            msg_id = kc.execute("train(m, data, epochs: 500, batch: 16)")
            deadline = time.time() + 120
            while True:   # the progress line, updated in place
                m = kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
                if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "update_display_data":
                    break
            time.sleep(0.5)
            if how == "message":
                km.interrupt_kernel()     # interrupt_mode "message": interrupt_request on control
            else:
                km.signal_kernel(signal.SIGINT)
            reply = kc.get_shell_msg(timeout=60)
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "interrupted", reply["content"]
            assert "stopped after step" in reply["content"]["evalue"], reply["content"]
            collect(kc, msg_id)
            assert km.is_alive()
            reply, msgs = execute(kc, "m.step")
            steps = int(text_of(msgs).strip())
            assert 0 < steps < 500 * 4, steps
            reply, msgs = execute(kc, "step(m, data, batch: 16)")
            assert reply["status"] == "ok" and ("step %d " % (steps + 1)) in text_of(msgs), text_of(msgs)
        # a long op that is not training (evaluating 20,000 images one by one) is given up at the next
        # batch, however many interrupts arrive, and the kernel and the model stay
        reply, msgs = execute(kc, "m.step")
        before = text_of(msgs).strip()
        msg_id = kc.execute('big = scenes(size: 16, train: 20000, test: 16, tasks: ["segment", "depth"])\n'
                            'eval(m, big, split: "train", batch: 1)')
        time.sleep(3)
        km.interrupt_kernel()
        time.sleep(0.2)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "interrupted", reply["content"]
        collect(kc, msg_id)
        assert km.is_alive()
        reply, msgs = execute(kc, "m.step")
        assert reply["status"] == "ok" and text_of(msgs).strip() == before, (before, text_of(msgs))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def sign(key, parts):
    h = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.hexdigest().encode()


def forged():
    from jupyter_client.session import Session
    km, kc = start_new_kernel(kernel_name="msq", startup_timeout=60)
    try:
        sock = kc.shell_channel.socket
        bad = Session(key=b"not-the-key", username="mallory")
        bad.send(sock, "execute_request", content={"code": "forged = 1", "silent": False, "store_history": True,
                                                    "user_expressions": {}, "allow_stdin": False})
        try:
            r = kc.get_shell_msg(timeout=2)
            raise AssertionError("the forged message was answered: %r" % r)
        except Empty:
            pass
        reply, msgs = execute(kc, "forged")
        assert reply["status"] == "error" and "unknown name 'forged'" in reply["evalue"], reply
        # Signed but malformed JSON: an error reply, the kernel stays up.
        key = kc.session.key
        header = json.dumps({"msg_id": str(uuid.uuid4()), "msg_type": "execute_request", "session": kc.session.session,
                             "username": "u", "date": "2024-01-01T00:00:00Z", "version": "5.3"}).encode()
        parts = [header, b"{}", b"{}", b"{not json"]
        sock.send_multipart([b"<IDS|MSG>", sign(key, parts)] + parts)
        r = kc.get_shell_msg(timeout=10)
        assert r["msg_type"] == "execute_reply" and r["content"]["status"] == "error", r
        assert r["content"]["ename"] == "MalformedMessage", r["content"]
        # An unknown message type: an error reply.
        msg = kc.session.msg("bogus_request", {})
        kc.shell_channel.send(msg)
        r = kc.get_shell_msg(timeout=10)
        assert r["msg_type"] == "bogus_reply" and r["content"]["status"] == "error", r
        assert r["parent_header"]["msg_id"] == msg["header"]["msg_id"]
        reply, msgs = execute(kc, "1 + 1")
        assert reply["status"] == "ok" and text_of(msgs) == "2", (reply, text_of(msgs))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    {"spec": spec, "notebook": notebook, "interrupt": interrupt, "forged": forged}[SCENARIO]()
    print("ok " + SCENARIO)
