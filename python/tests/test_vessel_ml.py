"""vessel_ml against the real vessel binary and its embedded registry.

A small training loop (linear regression by gradient descent, in plain
Python) saves checkpoints in the Hugging Face layout, and the callback is
driven the way the Trainer drives it. Run by `make test` (make python):
VESSEL_BIN and VESSEL_REGISTRY_BIN name the binaries.
"""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vessel_ml import PROVENANCE_TYPE, VesselCallback, VesselError, sign_checkpoint  # noqa: E402

VESSEL = os.environ.get("VESSEL_BIN")
REGISTRY = os.environ.get("VESSEL_REGISTRY_BIN")
ENV = dict(os.environ, VESSEL_PASSWORD="pw")


def vessel(*args, check=True):
    p = subprocess.run([VESSEL] + list(args), capture_output=True, text=True, env=ENV)
    if check and p.returncode != 0:
        raise AssertionError("vessel %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stderr))
    return p


def write_safetensors(path, tensors):
    """A safetensors file: an 8-byte header length, a JSON header, then the
    little-endian float32 data of each tensor."""
    header, data = {}, b""
    for name, values in sorted(tensors.items()):
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": [len(values)], "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


class Loop:
    """Linear regression y = w.x + b trained by SGD; saves like the Trainer."""

    def __init__(self, out, dims=8, seed=7):
        self.out, self.rng = out, random.Random(seed)
        self.true_w = [self.rng.uniform(-1, 1) for _ in range(dims)]
        self.w, self.b = [0.0] * dims, 0.0

    def step(self, lr=0.05):
        x = [self.rng.uniform(-1, 1) for _ in self.w]
        y = sum(a * b for a, b in zip(self.true_w, x)) + 0.5
        err = sum(a * b for a, b in zip(self.w, x)) + self.b - y
        self.w = [wi - lr * err * xi for wi, xi in zip(self.w, x)]
        self.b -= lr * err
        return err * err

    def save(self, step):
        d = os.path.join(self.out, "checkpoint-%d" % step)
        os.makedirs(d)
        write_safetensors(os.path.join(d, "model.safetensors"), {"weight": self.w, "bias": [self.b]})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": "linear", "dims": len(self.w)}, f)
        with open(os.path.join(d, "trainer_state.json"), "w") as f:
            json.dump({"global_step": step}, f)
        return d

    def train(self, cb, steps=30, save_every=10):
        args = types.SimpleNamespace(output_dir=self.out)
        state = types.SimpleNamespace(global_step=0)
        control = types.SimpleNamespace()
        cb.on_init_end(args, state, control)
        cb.on_train_begin(args, state, control)
        for s in range(1, steps + 1):
            self.step()
            state.global_step = s
            cb.on_step_end(args, state, control)
            if s % save_every == 0:
                self.save(s)
                cb.on_save(args, state, control)
        cb.on_train_end(args, state, control)


class VesselMLTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not VESSEL or not REGISTRY:
            raise RuntimeError("set VESSEL_BIN and VESSEL_REGISTRY_BIN (make python does)")
        cls.tmp = tempfile.mkdtemp()
        cls.registry = subprocess.Popen(
            [REGISTRY, "--addr", "127.0.0.1:0", "--root", os.path.join(cls.tmp, "registry")],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = cls.registry.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError("vessel-registry said %r" % line)
        cls.host = line[len("listening on "):]
        prefix = os.path.join(cls.tmp, "release")
        vessel("keygen", "--output-key-prefix", prefix)
        cls.key, cls.pub = prefix + ".key", prefix + ".pub"

    @classmethod
    def tearDownClass(cls):
        cls.registry.terminate()
        cls.registry.wait(10)
        cls.registry.stdout.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def out(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        return d

    def check_checkpoints(self, out, repo, cb, steps):
        self.assertEqual(sorted(cb.results), steps)
        for step in steps:
            ckpt = os.path.join(out, "checkpoint-%d" % step)
            res = cb.results[step]
            self.assertEqual(res["signature"], os.path.join(ckpt, "model.sig"))
            vessel("verify-dir", ckpt, "--signature", res["signature"], "--key", self.pub)
            dest = os.path.join(self.out(), "pulled")
            vessel("pull", "%s:step-%d" % (repo, step), dest, "--key", self.pub, "-q")
            for name in ("model.safetensors", "config.json", "trainer_state.json"):
                with open(os.path.join(ckpt, name), "rb") as a, open(os.path.join(dest, name), "rb") as b:
                    self.assertEqual(a.read(), b.read(), name)
            self.assertFalse(os.path.exists(os.path.join(dest, "model.sig")), "the pushed model holds the checkpoint's files only")
            listed = json.loads(vessel("attestations", res["reference"], "--key", self.pub, "--type", PROVENANCE_TYPE, "-o", "json").stdout)
            self.assertEqual(len(listed["attestations"]), 1)
            st = listed["attestations"][0]["statement"]
            params = st["predicate"]["buildDefinition"]["externalParameters"]
            self.assertEqual(params["step"], step)
            self.assertEqual(params["hyperparameters"], {"lr": 0.05})
            deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
            self.assertIn({"name": "train", "uri": "registry.example/data/toy", "digest": {"sha256": "ab" * 32}}, deps)

    def callback(self, repo, **kw):
        return VesselCallback(
            key=self.key, push=repo, vessel=VESSEL, env=ENV,
            datasets={"train": "registry.example/data/toy@sha256:" + "ab" * 32},
            hyperparameters={"lr": 0.05}, **kw)

    def test_callback_signs_and_pushes_each_save(self):
        out, repo = self.out(), self.host + "/team/linear"
        cb = self.callback(repo)
        Loop(out).train(cb)
        self.check_checkpoints(out, repo, cb, [10, 20, 30])

    def test_background_signing_is_waited_for_at_the_end(self):
        out, repo = self.out(), self.host + "/team/linear-bg"
        cb = self.callback(repo, background=True)
        Loop(out).train(cb)
        self.check_checkpoints(out, repo, cb, [10, 20, 30])

    def test_a_changed_file_fails_verify_dir(self):
        out = self.out()
        loop = Loop(out)
        ckpt = loop.save(5)
        res = sign_checkpoint(ckpt, key=self.key, vessel=VESSEL, env=ENV)
        vessel("verify-dir", ckpt, "--signature", res["signature"], "--key", self.pub)
        with open(os.path.join(ckpt, "config.json"), "a") as f:
            f.write(" ")
        p = vessel("verify-dir", ckpt, "--signature", res["signature"], "--key", self.pub, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)

    def test_errors_carry_vessels_message(self):
        ckpt = Loop(self.out()).save(1)
        with self.assertRaises(VesselError) as e:
            sign_checkpoint(ckpt, key=os.path.join(self.tmp, "missing.key"), vessel=VESSEL, env=ENV)
        self.assertIn("missing.key", str(e.exception))
        self.assertNotEqual(e.exception.exit_code, 0)
        cb = VesselCallback(key=os.path.join(self.tmp, "missing.key"), background=True, vessel=VESSEL, env=ENV)
        with self.assertRaises(VesselError):
            args = types.SimpleNamespace(output_dir=os.path.dirname(ckpt))
            cb.on_save(args, types.SimpleNamespace(global_step=1), None)
            cb.wait()
        with self.assertRaises(VesselError):
            VesselCallback(key=self.key, keyless=True)


if __name__ == "__main__":
    unittest.main()
