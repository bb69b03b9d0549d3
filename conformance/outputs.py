"""Where a command writes: checked before the work, never over an input, never lost.

Every command that writes (reports, saved failures, the demo's and bench's files)
checks each output location before it starts: a folder is created and a file is
created and removed in it; a file's folder likewise, and the file's own name is tried.
A location that cannot be written is a :class:`OutputPathError` (exit code 2) naming
the option and the reason, found in a second rather than after the run.

An output never replaces an input: a path that is an input of the same command, or
lies inside a folder the command reads (a suite's ``cases/`` and ``golden/``), is
refused, and an existing file is replaced only if it is empty or is an output of the
same kind that this tool wrote (a report is replaced by the next run's report; a case
or golden file never is). New files (cases, golden results) are created exclusively,
never over an existing one.

If writing still fails at the end (the disk filled up during the run), a failing case
is printed as JSON on stderr by :func:`print_unsaved_case`, so it is never lost.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from conformance.errors import BadInput
from conformance.text import printable


class OutputPathError(BadInput):
    """A report, folder or file location that cannot or must not be written (exit code 2)."""


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _missing_parents(folder: Path) -> list[Path]:
    """The folders of ``folder``'s chain that do not exist yet, outermost first."""
    missing = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return list(reversed(missing))


def _try_create(path: Path) -> None:
    """Create ``path`` exclusively and remove it again, making its folder and that
    folder's missing parents first and removing those it made afterwards, so that a
    check leaves nothing behind (OSError if the file cannot be created)."""
    created = _missing_parents(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8"):
            pass
        path.unlink()
    finally:
        for made in reversed(created):
            try:
                made.rmdir()
            except OSError:
                break


def check_output_folder(folder: str | os.PathLike[str], option: str) -> None:
    """Make sure files can be created in ``folder``: create it (with its parents) if
    needed, create and remove a file in it, then remove the folders this created, so a
    run that ends up writing nothing leaves nothing behind.

    OutputPathError naming ``option`` and the reason otherwise."""
    where = f"{option} {os.fspath(folder)!r}"
    try:
        _check_folder(Path(folder), where)
    except OSError as error:  # a name too long, a folder that cannot be looked into
        raise OutputPathError(f"{where}: cannot write there ({_reason(error)})") from None


def _check_folder(path: Path, where: str) -> None:
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{where}: is a file, not a folder")
    created = _missing_parents(path)
    try:
        _try_create(path / f".conformance-write-test-{uuid.uuid4().hex}")
    except OSError as error:
        blocking = next((p for p in created if p.parent.exists() and not p.parent.is_dir()), None)
        if blocking is not None:
            raise OutputPathError(
                f"{where}: {str(blocking.parent)!r} is a file, so no folder can be made there"
            ) from None
        raise OutputPathError(f"{where}: cannot write there ({_reason(error)})") from None


def check_output_file(
    file: str | os.PathLike[str],
    option: str,
    *,
    replaceable: Callable[[Path], bool],
    kind: str,
) -> None:
    """Make sure a file can be written at ``file``: its folder can be made and written,
    its name can be created there; if it exists, it is a regular file that is empty or
    that ``replaceable`` recognises as a ``kind`` this tool wrote (so the run may
    replace it). OutputPathError naming ``option`` and the reason otherwise."""
    where = f"{option} {os.fspath(file)!r}"
    try:
        _check_file(Path(file), option, where, replaceable, kind)
    except OSError as error:  # a name too long, a folder that cannot be looked into
        raise OutputPathError(f"{where}: cannot write there ({_reason(error)})") from None


def _check_file(
    path: Path, option: str, where: str, replaceable: Callable[[Path], bool], kind: str
) -> None:
    if path.is_dir():
        raise OutputPathError(f"{where}: is a folder; give a file name")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise OutputPathError(f"{where}: exists and is not a regular file")
        if path.stat().st_size and not replaceable(path):
            raise OutputPathError(
                f"{where}: exists and is not a {kind} written by this tool; it would be "
                "replaced, so choose another path (or delete it first)"
            )
        if not os.access(path, os.W_OK):
            raise OutputPathError(f"{where}: exists and is not writable")
        return
    check_output_folder(path.parent, option)
    try:
        _try_create(path)
    except OSError as error:
        raise OutputPathError(f"{where}: cannot create this file ({_reason(error)})") from None


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.exists() and second.exists() and os.path.samefile(first, second)
    except OSError:
        return False


def refuse_overlaps(
    outputs: Mapping[str, str | None],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    read_folders: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """OutputPathError if an output file (option -> path) is one of the command's
    ``inputs``, lies inside one of the ``read_folders`` it reads, or is the same file
    as another output."""
    named = [(option, Path(path)) for option, path in outputs.items() if path]
    sources = [Path(path) for path in inputs]
    folders = [Path(folder).resolve() for folder in read_folders]
    for index, (option, path) in enumerate(named):
        where = f"{option} {str(path)!r}"
        resolved = path.resolve()
        for source in sources:
            if resolved == source.resolve() or _same_file(path, source):
                raise OutputPathError(
                    f"{where}: is an input of this command ({str(source)!r}); "
                    "an output never replaces an input, choose another path"
                )
        for folder in folders:
            if resolved.is_relative_to(folder):
                raise OutputPathError(
                    f"{where}: lies inside {str(folder)!r}, which this command "
                    "reads; write reports elsewhere"
                )
        for other_option, other in named[index + 1 :]:
            if resolved == other.resolve() or _same_file(path, other):
                raise OutputPathError(
                    f"{where}: {other_option} names the same file; give each output its own"
                )


def create_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to a new file at ``path`` (FileExistsError if it exists); if the
    write fails part way, the partial file is removed, so there is the whole file or none."""
    target = Path(path)
    with open(target, "x", encoding="utf-8") as handle:
        try:
            handle.write(text)
            handle.flush()
        except BaseException:
            handle.close()
            target.unlink(missing_ok=True)
            raise
    return target


def print_unsaved_case(
    case_json: Mapping[str, Any], where: str, error: BaseException, *, stream: TextIO | None = None
) -> None:
    """The last resort when a failing case cannot be saved: say why and print the case
    as JSON on stderr (ASCII, one document), so that it can be pasted into a file."""
    out = stream if stream is not None else sys.stderr
    reason = _reason(error) if isinstance(error, OSError) else str(error)
    print(
        f"error: the failing case could not be saved in {where!r} "
        f"({printable(reason)}); here it is, save it as a .json file to replay it:",
        file=out,
    )
    print(json.dumps(case_json, indent=2, allow_nan=False, default=str), file=out, flush=True)
