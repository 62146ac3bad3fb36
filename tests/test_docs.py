"""Docs that cannot drift: every command README.md and docs/*.md show is checked against the code.

- a script command (`python vp3d_x.py ...`, `vp3d_x ...`): the script exists, every flag it uses is one its own
  parser defines (exactly: no abbreviations), and where the command holds no placeholder (`...`, `[--x]`,
  `<name>`, FILE) the parser takes it whole; a preprocessed sequence named (`--name 001_Directions`) exists in
  the test set vp3d_preprocess.py writes; `make X`: the Makefile has X; `bash scripts/x.sh`: it exists;
- Python: every call of vp3d's API (`vp3d.load_model`, a model's `lift`, `lift_file`, `stream`, a stream's `push`,
  `vp3d.io...` functions) binds to the real signature, and a signature listed (`Lifter.lift_file(path, ...)`)
  names the real parameters in their real order, with their real defaults;
- the cheap commands run, in the order a document shows them, on small files made under the names they use
  (keypoint files, a random model, a video), so that one command's output is the next one's input as a
  reader follows them; no command writes over a file a document names as the user's own input.
A renamed flag, function or argument, or a sequence that does not exist, fails here (tests below show it).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import inspect
import io
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from random_models import random_model
from repo_paths import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"vp3d_lift", "vp3d_render", "vp3d_convert"}        # scripts whose documented commands are run
INPUT_FLAGS = {"-m", "--model", "--video", "--keypoint-file", "--prep"}
PLACEHOLDER = re.compile(r"\.\.\.|[<>\[\]|{}$]|^[A-Z][A-Z0-9_.]*$|^@?[A-Z]+\.")


# ---------------------------------------------------------------------------------------------
# Reading the documents
# ---------------------------------------------------------------------------------------------

@dataclass
class Block:
    doc: str
    line: int
    lang: str
    text: str
    listing: bool = False         # an indented block: signatures and usage lines, not runnable examples


def blocks(doc: str, text: str) -> list[Block]:
    """Fenced code blocks (```lang ... ```) and indented ones (4 spaces after a blank line, outside lists)."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            indent, lang = len(line) - len(line.lstrip()), line.strip()[3:].strip()
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            out.append(Block(doc, i + 1, lang, "\n".join(l[indent:] for l in lines[i + 1:j])))
            i = j + 1
            continue
        if line.startswith("    ") and not line.startswith("     ") and i and not lines[i - 1].strip():
            j = i
            while j < len(lines) and lines[j].startswith("    "):
                j += 1
            out.append(Block(doc, i + 1, "", "\n".join(l[4:] for l in lines[i:j]), listing=True))
            i = j
            continue
        i += 1
    return out


@dataclass
class Command:
    doc: str
    line: int
    words: list[str]               # after the program: the script's arguments, or make's
    program: str                   # 'vp3d_lift', 'make', 'bash'
    listing: bool = False

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}: {self.program} {' '.join(self.words)}"


def commands(block: Block) -> list[Command]:
    """The commands a shell block shows: continuation lines joined, comments and redirections dropped,
    pipelines and && split; each vp3d script (python vp3d_x.py, vp3d_x), make and bash scripts/ call."""
    out, lines = [], block.text.replace("\\\n", " ").splitlines()
    for offset, line in enumerate(lines):
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
            lexer.whitespace_split, lexer.commenters = True, "#"
            tokens = list(lexer)
        except ValueError:
            continue
        segment: list[str] = []
        for token in tokens + ["|"]:
            if token and set(token) <= set("|&;<>"):
                out += _command(block, offset, segment)
                segment = [] if token != ">" else None
                continue
            if segment is not None:
                segment.append(token)
    return out


def _command(block: Block, offset: int, words: list[str] | None) -> list[Command]:
    if not words:
        return []
    while words and (re.fullmatch(r"[A-Z_]+=\S*", words[0]) or words[0] in ("python", "python3", "sudo")
                     or words[0].endswith("/python")):
        words = words[1:]
    if not words:
        return []
    m = re.fullmatch(r"(vp3d_\w+?)(\.py)?", words[0])
    if m:
        return [Command(block.doc, block.line + offset + 1, words[1:], m.group(1), block.listing)]
    if words[0] in ("make", "bash") and len(words) > 1:
        return [Command(block.doc, block.line + offset + 1, words[1:], words[0], block.listing)]
    return []


# ---------------------------------------------------------------------------------------------
# Checking them against the code
# ---------------------------------------------------------------------------------------------

def parser_of(script: str) -> argparse.ArgumentParser:
    return importlib.import_module(script).build_parser()


@dataclass
class Checker:
    """Checks commands and Python against the code; `problems` collects one line each."""

    sequence_names: set[str]
    parsers: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def parser(self, script: str):
        if script not in self.parsers:
            self.parsers[script] = parser_of(script)
        return self.parsers[script]

    def command(self, cmd: Command) -> None:
        if cmd.program == "make":
            targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))
            for target in cmd.words:
                if not target.startswith("-") and "=" not in target and target not in targets:
                    self.problems.append(f"{cmd.where}: the Makefile has no target {target!r}")
            return
        if cmd.program == "bash":
            if cmd.words[0].startswith("scripts/") and not (ROOT / cmd.words[0]).is_file():
                self.problems.append(f"{cmd.where}: no such script {cmd.words[0]}")
            return
        if not (ROOT / f"{cmd.program}.py").is_file():
            self.problems.append(f"{cmd.where}: no such script {cmd.program}.py")
            return
        parser = self.parser(cmd.program)
        options = parser._option_string_actions
        for word in cmd.words:
            for flag in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", word.split("=")[0]) if word.startswith(
                    ("-", "[-")) else []:
                if flag not in options:
                    self.problems.append(f"{cmd.where}: {cmd.program}.py has no flag {flag}")
        for flag, value in zip(cmd.words, cmd.words[1:]):
            if flag == "--name" and re.fullmatch(r"\d{3}_\w+", value) and value not in self.sequence_names:
                self.problems.append(f"{cmd.where}: no preprocessed sequence is named {value!r} (the test set's "
                                     f"are {', '.join(sorted(self.sequence_names)[:3])}, ...)")
        if not cmd.listing and not any(PLACEHOLDER.search(w) for w in cmd.words):
            argv = cmd.words
            if cmd.program == "vp3d_lift":
                from vp3d.corpus import ray_argv
                argv = ray_argv(argv)
            stderr = io.StringIO()
            try:
                with contextlib.redirect_stderr(stderr):
                    parser.parse_args(argv)
            except SystemExit:
                self.problems.append(f"{cmd.where}: its parser refuses it: {stderr.getvalue().strip().splitlines()[-1]}")

    def python(self, block: Block) -> None:
        """Calls of vp3d's API in a Python block or a listing of signatures."""
        try:
            tree = ast.parse(block.text)
        except SyntaxError:
            if not block.listing:
                self.problems.append(f"{block.doc}:{block.line}: a Python block that does not parse")
            return
        from vp3d.lift import Lifter
        from vp3d.stream import Stream
        kinds = {"Lifter": Lifter, "model": Lifter, "Stream": Stream, "stream": Stream}
        for node in ast.walk(tree):                            # what names hold: x = vp3d.load_model(...), ...
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                made = _dotted(node.value.func)
                if made in ("vp3d.load_model", "load_model"):
                    kinds[node.targets[0].id] = Lifter
                elif made and made.endswith(".stream"):
                    kinds[node.targets[0].id] = Stream
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (name := _dotted(node.func)):
                target = self._resolve(name, kinds)
                if target is not None:
                    self._call(block, node, name, target)

    def _resolve(self, name: str, kinds: dict):
        head, *rest = name.split(".")
        if head in kinds and len(rest) == 1:
            obj = getattr(kinds[head], rest[0], None)
            return obj if obj is not None else f"{kinds[head].__name__} has no {rest[0]}"
        if head != "vp3d":
            return None
        for cut in range(len(rest), -1, -1):                   # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(["vp3d", *rest[:cut]]))
            except ImportError:
                continue
            for part in rest[cut:]:
                if not hasattr(obj, part):
                    return f"{'.'.join(['vp3d', *rest[:cut]])} has no {part}"
                obj = getattr(obj, part)
            return obj
        return None

    def _call(self, block: Block, node: ast.Call, name: str, target) -> None:
        where = f"{block.doc}:{block.line + node.lineno - 1}: {name}"
        if isinstance(target, str):
            self.problems.append(f"{where}: {target}")
            return
        if not callable(target):
            return
        params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
        keywords = [k.arg for k in node.keywords if k.arg]
        if block.listing:             # a signature as documentation: the real parameters, in order, defaults
            listed = [a.id for a in node.args if isinstance(a, ast.Name)] + keywords
            real = [p.name for p in params]
            if listed != real[:len(listed)]:
                self.problems.append(f"{where}: lists ({', '.join(listed)}), the signature is ({', '.join(real)})")
            for k in node.keywords:
                if k.arg in real and isinstance(k.value, ast.Constant) and \
                        params[real.index(k.arg)].default != k.value.value:
                    self.problems.append(f"{where}: {k.arg}={k.value.value!r}, its default is "
                                         f"{params[real.index(k.arg)].default!r}")
            return
        signature = inspect.Signature(params)
        try:
            signature.bind(*[None] * len(node.args), **{k: None for k in keywords})
        except TypeError as e:
            self.problems.append(f"{where}: does not fit {name.split('.')[-1]}{signature}: {e}")


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


SIGNATURE = re.compile(r"[A-Za-z_][\w.]*\(.*\)")      # a listing's line that shows a function's signature


def check_documents(texts: dict[str, str], sequence_names: set[str], checker: Checker | None = None) -> Checker:
    """Every command and Python call of the documents {name: markdown}, checked; the checker and its problems."""
    checker = checker or Checker(sequence_names)
    for doc, text in texts.items():
        for block in blocks(doc, text):
            if block.lang == "python":
                checker.python(block)
                continue
            if block.listing:
                for n, line in enumerate(block.text.splitlines()):
                    if SIGNATURE.fullmatch(line.strip()):
                        checker.python(Block(doc, block.line + n, "python", line.strip(), listing=True))
            for cmd in commands(block):
                checker.command(cmd)
    return checker


# ---------------------------------------------------------------------------------------------
# Running the cheap ones
# ---------------------------------------------------------------------------------------------

W, H, FRAMES = 1920, 1080, 12


def make_input(path: Path, models: dict) -> bool:
    """Make the file a command reads, by what its name says it is; False where that is not known here."""
    sys.path.insert(0, str(ROOT / "tests"))
    from keypoint_writers import video_keypoints, write_coco_json, write_custom_npz, write_detectron_npz, write_keypoints_csv
    name = path.name
    path.parent.mkdir(parents=True, exist_ok=True)
    kps = video_keypoints(FRAMES, W, H, seed=len(name))
    if name.endswith((".bin", ".pth")):
        path.write_bytes(models["bin"].read_bytes())
    elif name.endswith(".onnx"):
        path.write_bytes(models["onnx"].read_bytes())
    elif name.endswith(".mp4.npz"):
        probs = np.full((1, 17), 0.9)
        write_detectron_npz(path, [(np.array([[*k.min(0), *k.max(0), 0.99]]), k[None], probs) for k in kps], W, H)
    elif name.startswith("data_2d_custom_") and name.endswith(".npz"):
        write_custom_npz(path, {"myvideo": (kps, W, H)})
    elif name.endswith(".json") and "poses" not in name:
        write_coco_json(path, kps)
    elif name.endswith(".csv") and "poses" not in name:
        write_keypoints_csv(path, kps)
    elif name.endswith(".mp4"):
        import imageio_ffmpeg
        writer = imageio_ffmpeg.write_frames(str(path), (W, H), fps=30, macro_block_size=1)
        writer.send(None)
        for _ in range(FRAMES):
            writer.send(np.full((H, W, 3), 60, np.uint8).tobytes())
        writer.close()
    elif not path.suffix and name in ("clips",):
        path.mkdir()
        for k in range(2):
            write_coco_json(path / f"c{k}.json", video_keypoints(FRAMES, 340, 256, seed=k))
    else:
        return False
    return True


def inputs_of(cmd: Command, user: bool = False) -> list[str]:
    """The files a command reads: positional arguments and the input flags' values; user=True: only those a
    user brings (keypoint files, videos, models), not the poses files vp3d wrote that render and convert read."""
    from vp3d.cli import split_image_size
    parser = parser_of(cmd.program)
    args, out = split_image_size(cmd.words), []
    i = 0
    while i < len(args):
        word = args[i]
        action = parser._option_string_actions.get(word.split("=")[0])
        if action is None:
            if not (user and cmd.program != "vp3d_lift"):
                out.append(word)
            i += 1
            continue
        takes = 0 if action.nargs == 0 else (action.nargs if isinstance(action.nargs, int) else 1)
        if word in INPUT_FLAGS and "=" not in word:
            out.append(args[i + 1])
        i += 1 + (0 if "=" in word else takes)
    return [w for w in out if w != "-"]


def output_of(cmd: Command) -> str | None:
    for flag, value in zip(cmd.words, cmd.words[1:]):
        if flag in ("-o", "--output", "--out", "--render", "--onnx"):
            return value
    return None


def runnable(cmd: Command) -> bool:
    return (cmd.program in RUN and not cmd.listing and not any(PLACEHOLDER.search(w) for w in cmd.words)
            and "--ray" not in cmd.words and "--stream" not in cmd.words and "-" not in cmd.words
            and not (cmd.program == "vp3d_lift" and any(w.endswith(".mp4") for w in inputs_of(cmd)
                                                         if w not in dict(zip(cmd.words, cmd.words[1:])).values()
                                                         or w == cmd.words[0])))


def run_documented(texts: dict[str, str], folder: Path, models: dict) -> tuple[list[str], list[str]]:
    """Run each document's cheap commands in order in a folder of its own: (problems, commands run)."""
    user_files = {w for text in texts.values() for b in blocks("", text) for c in commands(b)
                  if c.program in RUN for w in inputs_of(c, user=True)}
    problems, ran = [], []
    for doc, text in texts.items():
        made: set[str] = set()
        cwd = folder / re.sub(r"\W", "_", doc)
        cwd.mkdir(parents=True)
        for cmd in (c for b in blocks(doc, text) for c in commands(b) if runnable(c)):
            out = output_of(cmd)
            if out in user_files and out not in made:
                problems.append(f"{cmd.where}: writes {out}, which the docs name as the user's own input")
                continue
            missing = [p for p in inputs_of(cmd) if not (cwd / p).exists()]
            if not all(make_input(cwd / p, models) for p in missing):
                continue
            module = importlib.import_module(cmd.program)
            with contextlib.chdir(cwd), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()) as err:
                code = module.main(list(cmd.words))
            ran.append(cmd.where)
            if code != 0:
                problems.append(f"{cmd.where}: exit {code}: {err.getvalue().strip().splitlines()[-1:]}")
            elif out:
                made.add(out)
    return problems, ran


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sequence_names(tmp_path_factory) -> set[str]:
    """The names vp3d_preprocess.py gives Human3.6M's test sequences (S9, S11: synthetic data, same files)."""
    import vp3d_synthesize
    from vp3d.io.datasets import load_dataset
    from vp3d.pipeline.sequences import file_stem
    d = tmp_path_factory.mktemp("h36m")
    with contextlib.redirect_stdout(io.StringIO()):
        vp3d_synthesize.main(["-o", str(d), "--subjects", "S9,S11", "--lengths", "30"])
    return {file_stem(i, s.group) for i, s in enumerate(load_dataset(d).sequences(["S9", "S11"]))}


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in DOCS}


def test_every_documented_command_and_call_fits_the_code(texts, sequence_names):
    checker = check_documents(texts, sequence_names)
    assert not checker.problems, "\n".join(checker.problems)
    shown = [c for t in texts.values() for b in blocks("", t) for c in commands(b)]
    assert {c.program for c in shown} >= {"vp3d_lift", "vp3d_render", "vp3d_convert", "vp3d_preprocess",
                                          "vp3d_pth2onnx", "vp3d_infer", "vp3d_postprocess", "make"}
    assert len(shown) > 30


@pytest.mark.slow
def test_the_cheap_commands_run_in_the_order_shown(texts, tmp_path):
    """lift, render and convert as the README and docs/ show them, each document in a folder of its own."""
    from vp3d.model import checkpoint
    from vp3d.model.export import export_onnx
    net = random_model((3, 3), 16, seed=1)
    models = {"bin": tmp_path / "m.bin", "onnx": tmp_path / "m.onnx"}
    checkpoint.save(models["bin"], net)
    export_onnx(net, models["onnx"], None)
    problems, ran = run_documented(texts, tmp_path / "docs", models)
    assert not problems, "\n".join(problems)
    readme = [r for r in ran if r.startswith("README.md")]
    assert any("vp3d_render" in r for r in readme) and any("vp3d_convert" in r for r in readme), ran
    assert len(ran) >= 8, ran


def test_the_checks_fail_when_a_flag_or_name_drifts(texts, sequence_names, monkeypatch):
    """A modified copy of the docs, and a modified parser: each drift is found."""
    readme = texts["README.md"]
    assert "--keypoint-file" in readme and "lift_file(" in readme
    drifted = {
        "a flag renamed in the docs": (readme.replace("--keypoint-file", "--keypoints-file", 1),
                                       "vp3d_render.py has no flag --keypoints-file"),
        "a sequence that is not there": ("```bash\npython vp3d_convert.py p.npz --name 005_Greeting -o g.bvh\n```\n",
                                         "no preprocessed sequence is named '005_Greeting'"),
        "an API argument renamed": (readme.replace("image_size=(1920, 1080))", "image_sizes=(1920, 1080))", 1),
                                    "unexpected keyword argument 'image_sizes'"),
        "a signature listed out of order": ("Flags:\n\n    Lifter.lift_file(path, image_size=None, people=\"best\")\n",
                                            "lists (path, image_size, people), the signature is (path, image_size, "
                                            "progress"),
        "a default listed wrong": ("Flags:\n\n    vp3d.io.keypoints.read_keypoints(path, people=\"all\")\n",
                                   "people='all', its default is 'best'"),
        "a function that is not there": ("```python\nimport vp3d\nvp3d.io.keypoints.read_keypoint(path)\n```\n",
                                         "vp3d.io.keypoints has no read_keypoint"),
        "a make target that is not there": ("```bash\nmake demos\n```\n", "the Makefile has no target 'demos'"),
        "a flag value its parser refuses": ("```bash\npython vp3d_lift.py a.json -m m.onnx -o o.npz --people some\n```\n",
                                            "its parser refuses it"),
    }
    for what, (text, fragment) in drifted.items():
        problems = check_documents({"copy.md": text}, sequence_names).problems
        assert problems and fragment in problems[0], (what, problems)
    import vp3d_render
    original = vp3d_render.build_parser

    def renamed():                                     # the code renames a flag the docs still show
        parser = original()
        action = parser._option_string_actions.pop("--keypoint-file")
        action.option_strings = ["--keypoints"]
        parser._option_string_actions["--keypoints"] = action
        return parser
    monkeypatch.setattr(vp3d_render, "build_parser", renamed)
    problems = check_documents({"README.md": readme}, sequence_names).problems
    assert any("vp3d_render.py has no flag --keypoint-file" in p for p in problems), problems
