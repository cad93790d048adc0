"""`--output-format junit`: JUnit XML as Ruff writes it, for CI systems that show test
reports. A test suite per file with findings, a failing test case per finding (named
`tfgradfix.CODE`, its classname the path without its extension, its line and column);
a file's error is a test case with an `<error>`. A run with nothing to report is one
passing test case, "No errors found"."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from tfgradfix.report.run import RunReport


def _classname(path: str) -> str:
    return path[: -len(".ipynb")] if path.endswith(".ipynb") else path.rsplit(".py", 1)[0] if path.endswith(
        (".py", ".pyi")) else path


def write_junit(report: RunReport, out: TextIO) -> None:
    suites: dict[str, ET.Element] = {}
    counts: dict[str, list[int]] = {}  # path -> [failures, errors]

    def suite(path: str) -> ET.Element:
        if path not in suites:
            suites[path] = ET.Element("testsuite", name=path)
            counts[path] = [0, 0]
        return suites[path]

    for path, f in report.findings:
        case = ET.SubElement(suite(path), "testcase", name=f"tfgradfix.{f.code}", classname=_classname(path),
                             line=str(f.line), column=str(f.column))
        where = f"cell {f.cell}, line {f.line}, col {f.column}" if f.cell is not None else \
            f"line {f.line}, col {f.column}"
        failure = ET.SubElement(case, "failure", message=f.message)
        failure.text = f"{where}, {f.message}"
        counts[path][0] += 1
    for path, message in report.all_errors:
        case = ET.SubElement(suite(path), "testcase", name="tfgradfix.error", classname=_classname(path))
        error = ET.SubElement(case, "error", message=message)
        error.text = message
        counts[path][1] += 1
    failures = sum(c[0] for c in counts.values())
    errors = sum(c[1] for c in counts.values())
    root = ET.Element("testsuites", name="tfgradfix", tests=str(max(failures + errors, 1)),
                      failures=str(failures), errors=str(errors))
    if not suites:
        passing = ET.SubElement(root, "testsuite", name="tfgradfix", tests="1", disabled="0", errors="0",
                                failures="0", package="org.tfgradfix")
        ET.SubElement(passing, "testcase", name="No errors found", classname="tfgradfix")
    for path, element in suites.items():
        element.attrib.update(tests=str(sum(counts[path])), disabled="0", errors=str(counts[path][1]),
                              failures=str(counts[path][0]), package="org.tfgradfix")
        root.append(element)
    ET.indent(root, "    ")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
