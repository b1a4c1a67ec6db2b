"""vessel_ml with a real PyTorch training loop (Debian's python3-torch).

Run by `make test-torch` (PYTHON names an interpreter with torch): not part
of `make test`, which a machine with only Go and python3 must pass.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vessel_ml import VesselCallback  # noqa: E402

VESSEL = os.environ["VESSEL_BIN"]
REGISTRY = os.environ["VESSEL_REGISTRY_BIN"]
ENV = dict(os.environ, VESSEL_PASSWORD="pw")


def vessel(*args):
    p = subprocess.run([VESSEL] + list(args), capture_output=True, text=True, env=ENV)
    if p.returncode != 0:
        raise AssertionError("vessel %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout


class TorchLoopTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.registry = subprocess.Popen([REGISTRY, "--addr", "127.0.0.1:0", "--root", os.path.join(self.tmp, "reg")], stdout=subprocess.PIPE, text=True)
        self.host = self.registry.stdout.readline().strip()[len("listening on "):]
        prefix = os.path.join(self.tmp, "release")
        vessel("keygen", "--output-key-prefix", prefix)
        self.key, self.pub = prefix + ".key", prefix + ".pub"

    def tearDown(self):
        self.registry.terminate()
        self.registry.wait(10)
        self.registry.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_three_saves_signed_pushed_and_pulled_back(self):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        x = torch.randn(256, 16)
        y = x.sum(dim=1, keepdim=True)
        out, repo = os.path.join(self.tmp, "out"), self.host + "/team/mlp"
        cb = VesselCallback(key=self.key, push=repo, vessel=VESSEL, env=ENV, hyperparameters={"lr": 0.05}, background=True)
        args, state, control = types.SimpleNamespace(output_dir=out), types.SimpleNamespace(global_step=0), types.SimpleNamespace()
        cb.on_train_begin(args, state, control)
        losses = []
        for step in range(1, 31):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            state.global_step = step
            if step % 10 == 0:
                # What the Trainer writes into output_dir/checkpoint-<step>.
                ckpt = os.path.join(out, "checkpoint-%d" % step)
                os.makedirs(ckpt)
                torch.save(model.state_dict(), os.path.join(ckpt, "pytorch_model.bin"))
                torch.save(opt.state_dict(), os.path.join(ckpt, "optimizer.pt"))
                with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
                    json.dump({"global_step": step, "log_history": [{"loss": losses[-1]}]}, f)
                cb.on_save(args, state, control)
        cb.on_train_end(args, state, control)
        self.assertLess(losses[-1], losses[0])
        self.assertEqual(sorted(cb.results), [10, 20, 30])
        for step in (10, 20, 30):
            ckpt = os.path.join(out, "checkpoint-%d" % step)
            vessel("verify-dir", ckpt, "--signature", os.path.join(ckpt, "model.sig"), "--key", self.pub)
            dest = os.path.join(self.tmp, "pulled-%d" % step)
            vessel("pull", "%s:step-%d" % (repo, step), dest, "--key", self.pub, "-q")
            restored = torch.load(os.path.join(dest, "pytorch_model.bin"))
            saved = torch.load(os.path.join(ckpt, "pytorch_model.bin"))
            for k in saved:
                self.assertTrue(torch.equal(saved[k], restored[k]), k)


if __name__ == "__main__":
    unittest.main()
