#!/usr/bin/python3
"""Mutation fuzzer over eosweep's sweep format, for the ASan/UBSan build (-DEOS_SANITIZE=ON).

Mutants of real sweep files (sweeps/*.yaml, the bitwise reference, a few built in here) go
through fuzz_sweep_driver (the parse/expand/validate path of `eosweep --dry-run`, many files per
process, no MPI) and, a few per batch, through the real `eosweep --dry-run`. A case fails when:
  - a sanitizer reports anything (heap overflow, use after free, undefined behaviour, a leak with
    a frame in eosweep's own sources),
  - the process crashes or hangs (more than --hang seconds for one file),
  - a refusal is not exactly one line, or eosweep exits with anything but 0 or 2,
  - `eosweep --dry-run` leaves a file behind.
Failing inputs are copied to --out with the report.

  tests/fuzz/fuzz_sweep.py --build build-asan --seconds 45          # bounded (CI: ctest fuzz_sweep)
  tests/fuzz/fuzz_sweep.py --build build-asan --seconds 3600 --seed random   # long, for people
"""
import argparse
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BUILTIN = [
    """name: small
seed: 0
data:      {source: teacher-student, dim: 10, n_out: 3, teacher_hidden: 8, n_train: 256}
model:     {arch: mlp, hidden: [24, 24], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.05, batch_size: full, max_steps: 60, record_every: 5}
sharpness: {every: 20, k: 2, tol: 1.0e-3, chunk: 128}
grid:
  - {train.optimizer: [gd, adam], train.lr: [0.02, 0.05], seed: [0, 1]}
  - {train.optimizer: [sgd], train.batch_size: [32, 64], train.lr: [0.05], seed: [0, 1]}
""",
    """name: zipped
data:
  source: synthetic-linear
  dim: 4
  n_train: 64
model:
  hidden: [8]
train:
  optimizer: momentum
  batch_size: 16
grid:
  zip:
    train.lr: [0.1, 0.2]
    train.momentum: [0.5, 0.9]
  seed: [0, 1, 2]
""",
    """name: icl
data: {source: icl-regression, dim: 3, n_context: 6, n_train: 32, online: true}
model: {arch: linear-transformer, layers: 2, init: gaussian, init_scale: 0.3}
train: {optimizer: adam, lr: 0.01, max_steps: 10, record_every: 5}
sharpness: {every: 5, k: 1, precond: true, trace_probes: 2}
""",
]

INTERESTING = [
    "0", "-1", "1", "2", "-0", "1e308", "-1e308", "1e-400", "1e400", "nan", ".nan", ".inf",
    "-.inf", "~", "null", "''", '""', "'x'", '"a\\x00b"', "9" * 30, "-" + "9" * 25, "0x10",
    "0o17", "1_000", "true", "no", "yes", "[]", "{}", "[[1]]", "[1, [2]]", "{a: 1}", "full",
    "2147483647", "2147483648", "-2147483649", "9223372036854775807", "18446744073709551616",
    "é", "\U0001F600", "a" * 600, "[" * 20 + "]" * 20, "!!binary aGVsbG8=", "&a 1", "*a",
    "!!str 3", "? x", "|\n  block", ">\n  folded", "'it''s'", '"\\u00e9"', "1.5", "0.0",
    "[0.1, 0.2, 0.1]", "[1e-1, 0.1]", "[]", "[,]", "[1,,2]", "{k: }", "- 1",
]

KEYS = [
    "name", "seed", "data.source", "data.path", "data.n_train", "data.n_test", "data.dim",
    "data.n_out", "data.teacher_hidden", "data.noise", "data.n_context", "data.online",
    "model.arch", "model.hidden", "model.activation", "model.bias", "model.init",
    "model.init_scale", "model.layers", "loss", "train.optimizer", "train.lr",
    "train.batch_size", "train.max_steps", "train.record_every", "train.momentum",
    "train.sam_rho", "train.p", "sharpness.every", "sharpness.k", "sharpness.tol",
    "sharpness.max_iter", "sharpness.n", "sharpness.chunk", "sharpness.trace_probes",
    "sharpness.batch_sharpness", "grid", "zip", "trian", "train.lrr", "data", "model",
    "train.schedule", "train.warmup_steps", "train.warmup_init", "train.lr_min",
    "train.step_every", "train.step_gamma", "train.flow_alpha",
]


def seeds():
    out = list(BUILTIN)
    for p in sorted(glob.glob(os.path.join(SRC, "sweeps", "*.yaml"))) + [
            os.path.join(SRC, "tests", "bitwise", "reference.yaml")]:
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                out.append(f.read())
    return out


def mutate(rng, text, corpus):
    ops = rng.randint(1, 4)
    for _ in range(ops):
        m = rng.randrange(11)
        lines = text.split("\n")
        if m == 0 and text:  # flip / insert / delete bytes
            b = bytearray(text.encode("utf-8", "surrogateescape"))
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(b) + 1)
                r = rng.randrange(3)
                if r == 0 and i < len(b):
                    b[i] ^= 1 << rng.randrange(8)
                elif r == 1:
                    b.insert(i, rng.choice(b"[]{}:,-'\"#&*!|>? \t\n0\x00\xff"))
                elif i < len(b):
                    del b[i]
            text = b.decode("utf-8", "surrogateescape")
        elif m == 1 and lines:  # delete, duplicate or swap lines
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            r = rng.randrange(3)
            if r == 0:
                del lines[i]
            elif r == 1:
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif m in (2, 3, 4):  # replace a value with an interesting one
            spots = [mt.span(1) for mt in re.finditer(r"(?:: |\[|, )([^,\]\}\n]+)", text)]
            if spots:
                a, b = rng.choice(spots)
                text = text[:a] + rng.choice(INTERESTING) + text[b:]
        elif m == 5:  # replace a key
            spots = [mt.span(1) for mt in re.finditer(r"([A-Za-z_.]+):", text)]
            if spots:
                a, b = rng.choice(spots)
                text = text[:a] + rng.choice(KEYS) + text[b:]
        elif m == 6:  # a new grid axis with odd values
            vals = ", ".join(rng.choice(INTERESTING) for _ in range(rng.randint(0, 4)))
            text += f"\ngrid:\n  {rng.choice(KEYS)}: [{vals}]\n"
        elif m == 7:  # deep or wide nesting
            d = rng.choice([3, 8, 17, 40, 400])
            text += f"\n{rng.choice(KEYS)}: " + "[" * d + "0.1" + "]" * d + "\n"
        elif m == 8 and text:  # truncate
            text = text[: rng.randrange(len(text))]
        elif m == 9:  # splice with another seed
            other = rng.choice(corpus).split("\n")
            i = rng.randrange(len(lines) + 1)
            j = rng.randrange(len(other) + 1)
            text = "\n".join(lines[:i] + other[j:])
        else:  # indentation damage
            if lines:
                i = rng.randrange(len(lines))
                lines[i] = rng.choice(["", " ", "  ", "\t", "    "]) + lines[i].lstrip()
                text = "\n".join(lines)
    return text


OWN_FRAME = re.compile(r"( in eos_\w+| in main | in fuzz_\w+|/src/[a-z_]+/[a-z_]+\.c:)")


def sanitizer_problems(stderr):
    """Reports that count: memory errors, UB, and leaks with a frame in eosweep's own code."""
    probs = []
    if "ERROR: AddressSanitizer" in stderr or "runtime error:" in stderr:
        probs.append(stderr[-4000:])
    for block in re.split(r"\n(?=(?:Direct|Indirect) leak of)", stderr):
        if block.startswith(("Direct leak", "Indirect leak")) and OWN_FRAME.search(block):
            probs.append(block[:3000])
    return probs


def env():
    e = dict(os.environ)
    e["ASAN_OPTIONS"] = "abort_on_error=0:detect_leaks=1:allocator_may_return_null=1"
    # library leaks (Open MPI, libcrypto) must not change the exit code; our own are caught by
    # sanitizer_problems from their frames
    e["LSAN_OPTIONS"] = "use_tls=0:exitcode=0"  # Open MPI's thread-local storage confuses LSan otherwise
    e["UBSAN_OPTIONS"] = "print_stacktrace=1"
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return e


def run_driver(driver, files, timeout):
    try:
        p = subprocess.run([driver] + files, capture_output=True, timeout=timeout, env=env(),
                           text=True, errors="replace")
        return p.returncode, p.stdout, p.stderr, False
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or ""), "", True


def check_batch(driver, files, hang):
    """Returns a list of (file, reason) for the failing files of a batch."""
    rc, out, err, timed_out = run_driver(driver, files, hang * len(files) + 30)
    lines = out.split("\n")[:-1] if out.endswith("\n") else out.split("\n")
    ok = (not timed_out and rc == 0 and not sanitizer_problems(err) and len(lines) == len(files)
          and all(ln.startswith(("OK ", "ERR ")) for ln in lines))
    if ok:
        return []
    bad = []
    for f in files:  # find the culprits one by one
        rc, out, err, timed_out = run_driver(driver, [f], hang)
        probs = sanitizer_problems(err)
        if timed_out:
            bad.append((f, f"hang: more than {hang} s"))
        elif rc != 0:
            bad.append((f, f"driver exit {rc}\n{err[-3000:]}"))
        elif probs:
            bad.append((f, "\n".join(probs)))
        elif out.count("\n") != 1 or not out.startswith(("OK ", "ERR ")):
            bad.append((f, f"not one line of result:\n{out[:2000]}"))
    if not bad:
        bad.append((files[0], f"batch failed but no single file does (rc {rc}, timeout "
                              f"{timed_out}): {err[-2000:]}"))
    return bad


def check_cli(eosweep, f, workdir, hang):
    before = set(os.listdir(workdir))
    try:
        p = subprocess.run([eosweep, "--dry-run", f], capture_output=True, timeout=hang + 20,
                           env=env(), cwd=workdir, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return f"eosweep --dry-run hung (more than {hang + 20} s)"
    probs = sanitizer_problems(p.stderr)
    if probs:
        return "\n".join(probs)
    if p.returncode not in (0, 2):
        return f"eosweep --dry-run exit {p.returncode}: {p.stderr[-2000:]}"
    if p.returncode == 2:
        # eosweep's own output ends where a (library-leak) sanitizer report begins
        own = [ln for ln in re.split(r"\n=+\n|\n==\d+==", p.stderr)[0].split("\n") if ln.strip()]
        if len(own) != 1 or not own[0].startswith("eosweep: "):
            return f"refusal is not one 'eosweep: ...' line:\n{p.stderr[:2000]}"
    extra = set(os.listdir(workdir)) - before
    if extra:
        return f"--dry-run left files behind: {sorted(extra)}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="a -DEOS_SANITIZE=ON build directory")
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--seed", default="0", help="an integer, or 'random'")
    ap.add_argument("--batch", type=int, default=150)
    ap.add_argument("--hang", type=float, default=10, help="seconds one file may take")
    ap.add_argument("--cli-per-batch", type=int, default=2)
    ap.add_argument("--out", default="fuzz-failures")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    driver = os.path.join(a.build, "fuzz_sweep_driver")
    eosweep = os.path.join(a.build, "eosweep")
    seed = random.randrange(1 << 30) if a.seed == "random" else int(a.seed)
    rng = random.Random(seed)
    corpus = seeds()
    work = tempfile.mkdtemp(prefix="eosweep-fuzz.")
    cli_dir = os.path.join(work, "cli")
    os.mkdir(cli_dir)
    t_end = time.time() + a.seconds
    n_cases = n_cli = 0
    failures = []
    print(f"fuzz: seed {seed}, {len(corpus)} seed files, {a.seconds:.0f} s", flush=True)
    try:
        while time.time() < t_end and len(failures) < 10:
            files = []
            for i in range(a.batch):
                text = mutate(rng, rng.choice(corpus), corpus)
                p = os.path.join(work, f"case{n_cases + i}.yaml")
                with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(text)
                files.append(p)
            failures += check_batch(driver, files, a.hang)
            for f in rng.sample(files, min(a.cli_per_batch, len(files))):
                if time.time() >= t_end:
                    break
                why = check_cli(eosweep, f, cli_dir, a.hang)
                n_cli += 1
                if why:
                    failures.append((f, why))
            n_cases += len(files)
            for f in files:
                if all(f != g for g, _ in failures):
                    os.unlink(f)
        if failures:
            os.makedirs(a.out, exist_ok=True)
            for i, (f, why) in enumerate(failures):
                dst = os.path.join(a.out, f"failure{i}.yaml")
                shutil.copy(f, dst)
                with open(dst + ".txt", "w") as g:
                    g.write(why + "\n")
                print(f"fuzz: FAIL {dst}: {why.splitlines()[0] if why else ''}", flush=True)
        print(f"fuzz: {n_cases} mutants through the driver, {n_cli} through eosweep --dry-run, "
              f"{len(failures)} failing (seed {seed})")
        print(f"{n_cases - len(failures)} passed, {len(failures)} failed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
