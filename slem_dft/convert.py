"""``slem-dft convert``: DFT run directories -> one HDF5 store, checked on the way."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import registry
from .checks import CheckReport, check_record
from .data import BlockMatrix, Record
from .errors import SlemDFTError
from .overlap import TwoCenterOverlap, overlap_blocks
from .store import StoreWriter

__all__ = ["ConvertResult", "read_and_check", "exact_overlap", "convert_runs"]


@dataclass
class ConvertResult:
    """What a conversion did: records written, and the runs that failed with their reason."""

    output: Path
    written: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    reports: list[CheckReport] = field(default_factory=list)


def read_and_check(
    run_dir: str | os.PathLike,
    operators: Sequence[str] = ("H", "S", "DM"),
    read_options: Mapping | None = None,
    check: bool = True,
    references: Iterable[str | os.PathLike] = (),
) -> tuple[Record, CheckReport | None]:
    """Read one run and (unless ``check`` is False) run the physics checks on it."""
    record = registry.read_run(run_dir, operators=operators, **(read_options or {}))
    if not check:
        return record, None
    return record, check_record(record, registry.read_references(record, references), overlap=exact_overlap(record))


def exact_overlap(record: Record) -> BlockMatrix | None:
    """The two-centre S of a run that ships a DM without S, when its basis files are at hand."""
    if "DM" not in record.operators or "S" in record.operators or record.gamma_only:
        return None
    try:
        radials = registry.read_radial_basis(record)
    except SlemDFTError:
        return None
    return overlap_blocks(record, TwoCenterOverlap(radials))


def _worker(args) -> tuple[Record | None, CheckReport | None, str | None]:
    run_dir, operators, read_options, check = args
    try:
        record, report = read_and_check(run_dir, operators, read_options, check)
    except (SlemDFTError, OSError) as exc:
        return None, None, str(exc)
    if report is not None and not report.passed:
        return None, report, f"{run_dir}: check failed: " + "; ".join(report.failures)
    return record, report, None


def convert_runs(
    run_dirs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    operators: Sequence[str] = ("H", "S", "DM"),
    recursive: bool = False,
    jobs: int = 1,
    append: bool = False,
    check: bool = True,
    skip_failed: bool = False,
    read_options: Mapping | None = None,
    progress: bool | None = None,
) -> ConvertResult:
    """Convert run directories into one store at ``output``.

    Runs are read (and checked) by ``jobs`` worker processes and written in input order. A run
    that cannot be read or fails its checks makes the whole conversion fail and nothing is
    written, unless ``skip_failed``: then the other runs are written and the failures listed.
    """
    dirs = registry.find_run_dirs(run_dirs, recursive)
    result = ConvertResult(Path(output))
    tasks = [(os.fspath(d), tuple(operators), dict(read_options or {}), check) for d in dirs]
    pool = None
    if jobs > 1 and len(tasks) > 1:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        with _single_threaded_blas():  # workers inherit the environment when they start
            results = pool.map(_worker, tasks)
    else:
        results = map(_worker, tasks)
    try:
        with StoreWriter(output, append=append) as writer:
            for (run_dir, *_), (record, report, error) in zip(
                tasks,
                tqdm(
                    results,
                    total=len(tasks),
                    desc="convert",
                    unit="run",
                    disable=None if progress is None else not progress,
                ),
            ):
                if report is not None:
                    result.reports.append(report)
                if error is not None:
                    result.failures.append((run_dir, error))
                    if not skip_failed:
                        raise _Abort()
                    continue
                writer.add(record)
                result.written += 1
            if result.written == 0:
                raise _Abort()
    except _Abort:
        result.written = 0  # the store context was left with an exception: nothing was written
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return result


@contextlib.contextmanager
def _single_threaded_blas():
    """One BLAS/OpenMP thread per worker process: several processes each running as many
    threads as there are cores oversubscribe the machine (measured: 6x slower on 2 cores)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({n: "1" for n in names})
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


class _Abort(Exception):
    """Leave the store context with an exception, so that nothing is written."""
