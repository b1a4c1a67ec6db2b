"""Sign model checkpoints as a training loop saves them, with vessel.

Standard library only: it runs the ``vessel`` binary ($VESSEL_BIN, else
``vessel`` on PATH). Two ways in:

    from vessel_ml import VesselCallback, sign_checkpoint

    cb = VesselCallback(key="release.key", push="registry.example/team/llm")
    trainer = Trainer(model, args, callbacks=[cb])   # Hugging Face

    sign_checkpoint("out/checkpoint-500", key="release.key")   # any loop

Each checkpoint directory gets an OpenSSF Model Signing signature next to
its files (``model.sig``, verifiable with ``vessel verify-dir`` or
``model_signing verify``); with ``push`` it is also pushed, signed, as
``REPO:step-N`` with a SLSA provenance attestation (the step, the datasets
given, the hyperparameters, the git commit when known). Errors raise
VesselError with vessel's own message.
"""

import json
import os
import shutil
import subprocess
import threading
import time

__all__ = ["VesselError", "sign_checkpoint", "VesselCallback", "PROVENANCE_TYPE"]

PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
TRAINING_BUILD_TYPE = "https://github.com/vessel-oci/vessel/training/v1"


class VesselError(Exception):
    """vessel failed; the message is vessel's, and exit_code its exit code
    (3: verification failed, 2: usage)."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


def _vessel_bin(vessel):
    path = vessel or os.environ.get("VESSEL_BIN") or shutil.which("vessel")
    if not path:
        raise VesselError("vessel not found: put it on PATH or set VESSEL_BIN", 127)
    return path


def _run(vessel, args, stdin=None, env=None):
    proc = subprocess.run(
        [_vessel_bin(vessel)] + args,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        msg = proc.stderr.strip() or "vessel %s exited %d" % (args[0], proc.returncode)
        raise VesselError(msg, proc.returncode)
    return proc.stdout


def _signing_args(key, keyless):
    if bool(key) == bool(keyless):
        raise VesselError("give key=PATH or keyless=True (one of them)", 2)
    return ["--key", key] if key else ["--keyless"]


def _git_commit(path):
    try:
        out = subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def provenance(step=None, datasets=None, hyperparameters=None, builder_id=None, commit=None):
    """A SLSA v1 provenance predicate for a checkpoint: what produced it."""
    deps = []
    for name, ref in sorted((datasets or {}).items()):
        # "registry/repo@sha256:HEX": pinned by digest, as vessel provenance
        # wants its materials.
        uri, _, dig = ref.partition("@")
        alg, _, hexd = dig.partition(":")
        dep = {"name": name, "uri": uri}
        if hexd:
            dep["digest"] = {alg: hexd}
        deps.append(dep)
    if commit:
        deps.append({"name": "source", "digest": {"gitCommit": commit}})
    external = {}
    if step is not None:
        external["step"] = step
    if hyperparameters:
        external["hyperparameters"] = hyperparameters
    return {
        "buildDefinition": {
            "buildType": TRAINING_BUILD_TYPE,
            "externalParameters": external,
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": builder_id or "https://github.com/vessel-oci/vessel/python/vessel_ml"},
            "metadata": {"finishedOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        },
    }


def sign_checkpoint(
    path,
    key=None,
    keyless=False,
    push=None,
    tag=None,
    step=None,
    datasets=None,
    hyperparameters=None,
    signature="model.sig",
    vessel=None,
    env=None,
):
    """Sign the checkpoint directory at path; with push (a repository,
    "registry/team/llm"), push it signed as push:tag (default "step-N")
    first, with a provenance attestation. Returns {"signature": PATH} and,
    when pushed, "reference" (pinned by digest) and "digest"."""
    signing = _signing_args(key, keyless)
    result = {}
    if push:
        if tag is None:
            if step is None:
                raise VesselError("push needs a tag or a step (the tag is step-N)", 2)
            tag = "step-%d" % step
        # Pushed before model.sig is written into the directory, so the
        # pushed model is the checkpoint's files and nothing else.
        out = _run(vessel, ["push", path, "%s:%s" % (push, tag), "-o", "json", "-q"] + signing, env=env)
        pushed = json.loads(out)
        ref = "%s@%s" % (push, pushed["digest"])
        pred = provenance(step, datasets, hyperparameters, commit=_git_commit(path))
        _run(
            vessel,
            ["attest", ref, "--type", PROVENANCE_TYPE, "--predicate", "-", "-o", "json"] + signing,
            stdin=json.dumps(pred),
            env=env,
        )
        result.update(reference=ref, digest=pushed["digest"])
    sig = os.path.join(path, signature)
    _run(vessel, ["sign-dir", path, "--signature", sig] + signing, env=env)
    result["signature"] = sig
    return result


class VesselCallback:
    """A Hugging Face Trainer callback (duck-typed: transformers is not
    imported) that signs each checkpoint the Trainer saves,
    args.output_dir/checkpoint-<global_step>, and pushes it when push is
    set. background=True signs in a thread so training goes on; the
    callback waits for all of them when training ends (or on wait()), and
    raises the first failure there."""

    def __init__(
        self,
        key=None,
        keyless=False,
        push=None,
        datasets=None,
        hyperparameters=None,
        background=False,
        vessel=None,
        env=None,
    ):
        _signing_args(key, keyless)
        self.key, self.keyless, self.push = key, keyless, push
        self.datasets, self.hyperparameters = datasets, hyperparameters
        self.background, self.vessel, self.env = background, vessel, env
        self.results = {}
        self._threads = []
        self._errors = []
        self._lock = threading.Lock()

    def on_save(self, args, state, control, **kwargs):
        step = state.global_step
        path = os.path.join(args.output_dir, "checkpoint-%d" % step)
        if not self.background:
            self.results[step] = self._sign(path, step)
            return control
        t = threading.Thread(target=self._sign_in_background, args=(path, step), daemon=True)
        t.start()
        self._threads.append(t)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.wait()
        return control

    def wait(self):
        """Wait for background signing; raise its first error."""
        for t in self._threads:
            t.join()
        self._threads = []
        if self._errors:
            err, self._errors = self._errors[0], []
            raise err

    def _sign(self, path, step):
        return sign_checkpoint(
            path,
            key=self.key,
            keyless=self.keyless,
            push=self.push,
            step=step,
            datasets=self.datasets,
            hyperparameters=self.hyperparameters,
            vessel=self.vessel,
            env=self.env,
        )

    def _sign_in_background(self, path, step):
        try:
            res = self._sign(path, step)
            with self._lock:
                self.results[step] = res
        except Exception as e:  # surfaced by wait()
            with self._lock:
                self._errors.append(e)

    def __getattr__(self, name):
        # The Trainer calls every event on every callback; the others do
        # nothing here.
        if name.startswith("on_"):
            return lambda args, state, control, **kwargs: control
        raise AttributeError(name)
