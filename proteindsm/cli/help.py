"""``proteindsm <command> --help``: the command's options, defaults and one-line descriptions,
read from its config file (``configs/<folder>/<name>.yaml``: each key's inline ``#`` comment, or
the comment lines just above it)."""

from __future__ import annotations

import re
from pathlib import Path

from proteindsm.resources import config_root

_KEY = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z_][\w.]*)\s*:\s*(?P<rest>.*)$")


def _split_comment(rest: str) -> tuple[str, str]:
    """``value  # comment`` → (value, comment); a ``#`` inside quotes is kept."""
    quote = None
    for i, ch in enumerate(rest):
        if ch in "'\"":
            quote = None if quote == ch else (quote or ch)
        elif ch == "#" and quote is None and (i == 0 or rest[i - 1].isspace()):
            return rest[:i].strip(), rest[i + 1:].strip()
    return rest.strip(), ""


def config_options(path: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(comment lines at the top of the file, [(key, default, description), ...]) of a config; keys
    of nested mappings are dotted (``steric.scale``); entries of the defaults list are config groups
    (``sampler``), their default the option chosen."""
    header, rows, parents, pending = [], [], [], []
    in_defaults, seen_key = False, False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            (pending if seen_key else header).append(text)
            continue
        m = _KEY.match(line)
        if m is None:
            continue
        seen_key = True
        indent, key = len(m["indent"]), m["key"]
        value, comment = _split_comment(m["rest"])
        if key == "defaults" and indent == 0:
            in_defaults, pending = True, []
            continue
        if m["dash"]:
            if in_defaults and key != "_self_":
                rows.append((key, value, comment or " ".join(pending)))
            pending = []
            continue
        if indent == 0:
            in_defaults = False
        while parents and parents[-1][0] >= indent:
            parents.pop()
        dotted = ".".join([p for _, p in parents] + [key])
        description = comment or " ".join(pending)
        pending = []
        if value == "":
            parents.append((indent, key))
            rows.append((dotted, "", description))
        else:
            rows.append((dotted, value, description))
    return header, rows


def command_help(command: str, folder: str, name: str, description: str) -> str:
    """The help text of one command."""
    path = config_root() / folder / f"{name}.yaml"
    header, rows = config_options(path)
    lines = [f"usage: proteindsm {command} [key=value ...]", "", description, ""]
    lines += ["options (key=default  description):"]
    width = min(34, max([len(k) + len(v) + 1 for k, v, _ in rows if v] + [10]))
    for key, value, desc in rows:
        if value == "":
            lines.append(f"  {key}:{('  ' + desc) if desc else ''}")
            continue
        group = config_root() / folder / key
        if group.is_dir() and "." not in key:
            choices = "|".join(sorted(p.stem for p in group.glob("*.yaml")))
            desc = f"{desc} (choices: {choices})".strip()
        item = f"{key}={value}"
        lines.append(f"  {item:<{width}}  {desc}".rstrip())
    lines += ["", f"config: {path}", "'???' marks a required key; nested keys are set as parent.key=value; "
              "add --cfg to print the composed config."]
    return "\n".join(lines)
