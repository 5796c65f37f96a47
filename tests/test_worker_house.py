"""The worker's house: upload SQL lives in worker/repository/ alone, and the service and the
engine are built with explicit dependencies, not wired to each other afterwards."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPLOAD_SQL = re.compile(r"\b(FROM|UPDATE|INTO|JOIN)\s+(uploads|upload_members)\b")  # SQL is upper case


def test_upload_sql_lives_in_the_repository_alone() -> None:
    allowed = {ROOT / "core" / "migrations.py", ROOT / "core" / "store.py"}  # schema; change_seq
    offenders = []
    for path in sorted([*(ROOT / "worker").rglob("*.py"), *(ROOT / "core").rglob("*.py"),
                        *(ROOT / "gui").rglob("*.py")]):
        if path in allowed or (ROOT / "worker" / "repository") in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if UPLOAD_SQL.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "upload SQL outside worker/repository/:\n" + "\n".join(offenders)


def test_no_service_engine_cycle() -> None:
    engine = ast.parse((ROOT / "worker" / "engine.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(engine) if isinstance(n, ast.ImportFrom)}
    assert "upqueue.worker.service" not in imported, "the engine must not know the service"
    runtime = ast.parse((ROOT / "worker" / "runtime.py").read_text(encoding="utf-8"))
    wired = [
        f"line {n.lineno}" for n in ast.walk(runtime) if isinstance(n, ast.Assign)
        for t in n.targets if isinstance(t, ast.Attribute) and t.attr in ("engine", "service")
    ]
    assert not wired, f"runtime.py wires engine/service by attribute assignment: {wired}"
