"""The project index: every module of the project, what it defines and imports.

Built once per run from Python's `ast` (a tenth of LibCST's parse), before any
file is analysed, and handed to the per-file analysis and to worker processes
(it is plain, picklable data). It answers what a name of a module refers to
across the project's own modules: which classes are Keras layers or models
through any chain of local bases, which functions create variables, call NumPy,
hold a tape or return a closure.

The project is the files given plus the modules of their packages that those
files import (transitively). A package is found upwards from each file: the
folders holding an `__init__.py`; a file outside any package is a top-level
module of its folder (scripts importing their siblings), and, under a folder
with `pyproject.toml`, also a module named by its path from that folder.

The package, along the data flow:
- `disk.py`: every read of the disk (texts, listings, module names, a package's files);
- `indexer.py`: one module's text -> `ModuleInfo`, from `ast` alone;
- `model.py`: the plain data (`ModuleInfo`, `ClassInfo`, `FunctionInfo`, `PathEntry`,
  `Kind`) and what a library class is (`library_kind`);
- `index.py`: `ProjectIndex`, which reads modules through `disk` as questions need them
  and answers the questions across modules.
Import from `tfgradfix.analysis.project`; the split is the package's own business.
"""

from tfgradfix.analysis.project.disk import importable_package, module_names
from tfgradfix.analysis.project.index import MAX_MODULES, ProjectIndex, uses_by_hand
from tfgradfix.analysis.project.indexer import absolute_module, checksum, index_module
from tfgradfix.analysis.project.model import (
    ClassInfo, Definition, FunctionInfo, Kind, ModuleInfo, PathEntry, library_kind,
)

__all__ = [
    "MAX_MODULES", "ClassInfo", "Definition", "FunctionInfo", "Kind", "ModuleInfo", "PathEntry", "ProjectIndex",
    "absolute_module", "checksum", "importable_package", "index_module", "library_kind", "module_names", "uses_by_hand",
]
