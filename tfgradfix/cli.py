"""The command line (README "Usage"; docs/architecture.md "Data flow"): `tfgradfix [check] [OPTIONS] PATH...`,
`rule`, `rules`."""

from __future__ import annotations

import ast
import difflib
import io
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator, Optional, TextIO

import click

from tfgradfix import __version__, interrupts
from tfgradfix.config import (ConfigError, ConfigOverrides, Configs, RuleSelection, check_codes, is_override,
                              parse_per_file_ignores)
from tfgradfix.analysis.project import ProjectIndex
from tfgradfix.engine import Engine
from tfgradfix.files import STDIN, Exclusions, NotPython, SourceError, discover, read_source, write_source
from tfgradfix.noqa import add_noqa
from tfgradfix.report.diff import unified_diff
from tfgradfix.report.full import write_full
from tfgradfix.report.github import write_github
from tfgradfix.report.gitlab import write_gitlab
from tfgradfix.report.junit import write_junit
from tfgradfix.parallel import default_jobs, process_files
from tfgradfix.report.interactive import Interrupted, Review
from tfgradfix.report.progress import Progress
from tfgradfix.report.json_format import write_json
from tfgradfix.report.run import RunReport, display_path, write_together
from tfgradfix.report.sarif import write_sarif
from tfgradfix.report.text import write_statistics, write_text
from tfgradfix.result import FileResult
from tfgradfix.rules import ALL_RULES, RULES_BY_CODE
from tfgradfix.rules.docs import fix_kind, render
from tfgradfix.rules.unused_noqa import UnusedNoqa
from tfgradfix.verify.runner import VerifyUnavailable, check_python, describe, summary_lines, tally, verify_files
from tfgradfix.verify.units import (NOTHING, accepts, changed_units, runs_as_verified, verdict_for, verified_names,
                                    verified_units)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class DefaultCommandGroup(click.Group):
    """`check` runs when the first argument is not a command, as in Ruff. A first
    argument that is no path but looks like a mistyped command is an error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-") and not os.path.lexists(args[0]):
            close = difflib.get_close_matches(args[0], list(self.commands), n=1)
            if close:
                raise click.UsageError(f"no such command or path: {args[0]!r} (did you mean {close[0]!r}?)", ctx)
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tfgradfix")
def main() -> None:
    """Find and fix TensorFlow/Keras code whose gradients come back None.

    `check` is the default command: `tfgradfix src/` is `tfgradfix check src/`.
    """


def _codes(values: tuple[str, ...], option: str) -> list[str]:
    return check_codes([code.strip().upper() for value in values for code in value.split(",") if code.strip()],
                       option)


@dataclass
class Options:
    """The options of `check`, as click parses them (README "Usage"); `_check` reads them."""
    diff: bool
    fix: bool
    fix_only: bool
    unsafe_fixes: Optional[bool]
    show_fixes: bool
    select: tuple[str, ...]
    extend_select: tuple[str, ...]
    ignore: tuple[str, ...]
    extend_ignore: tuple[str, ...]
    exclude: tuple[str, ...]
    extend_exclude: tuple[str, ...]
    respect_gitignore: bool
    config_values: tuple[str, ...]
    per_file_ignores: tuple[str, ...]
    fixable: tuple[str, ...]
    unfixable: tuple[str, ...]
    ignore_noqa: bool
    isolated: bool
    output_format: str
    output_file: Optional[str]
    exit_zero: bool
    exit_non_zero_on_fix: bool
    add_noqa: bool
    stdin_filename: Optional[str]
    interactive: bool
    jobs: Optional[int]
    no_progress: bool
    quiet: bool
    statistics: bool
    show_files: bool
    verify: bool
    verify_device: str
    verify_timeout: float
    python_path: Optional[str]


_FORMATS: dict[str, Callable[..., None]] = {"text": write_text, "concise": write_text, "full": write_full, "json": write_json, "sarif": write_sarif,
            "github": write_github, "junit": write_junit, "gitlab": write_gitlab}


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--diff", is_flag=True, help="Print a unified diff of the fixes; write nothing.")
@click.option("--fix", is_flag=True, help="Apply fixes in place.")
@click.option("--fix-only", is_flag=True, help="Apply fixes; do not report, or exit 1 for, findings left.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=None,
              help="Also apply fixes marked unsafe (default: the config's unsafe-fixes, else no).")
@click.option("--show-fixes", is_flag=True, help="With --fix: list the fixes applied, per file and rule.")
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (TGF1, TGF101, ALL); "
                                               "replaces the config's choice.")
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to enable as well.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--extend-ignore", multiple=True, hidden=True, help="Same as --ignore (Ruff's old name).")
@click.option("--exclude", multiple=True, help="Files or folders to skip (names, paths or globs); "
                                                "replaces the config's list.")
@click.option("--extend-exclude", multiple=True, help="Files or folders to skip as well.")
@click.option("--respect-gitignore/--no-respect-gitignore", default=True, show_default=True,
              help="Skip files that git ignores (.gitignore, .git/info/exclude) in folders searched.")
@click.option("--config", "config_values", multiple=True, metavar="PATH | KEY=VALUE",
              help="The TOML file to read settings from, instead of the nearest pyproject.toml; or, repeatable, "
                   "a `KEY = VALUE` that overrides that key of every configuration (`--config 'ignore = [\"TGF2\"]'`).")
@click.option("--per-file-ignores", multiple=True, metavar="PATTERN:CODES",
              help="Codes to ignore in files matching a glob (`tests/*:TGF2,TGF101`), repeatable; with the "
                   "configuration's per-file-ignores.")
@click.option("--fixable", multiple=True, help="Codes or prefixes whose fixes may be applied (default: ALL).")
@click.option("--unfixable", multiple=True, help="Codes or prefixes reported but never fixed.")
@click.option("--ignore-noqa", is_flag=True, help="Ignore `# noqa` and `# tfgradfix: noqa` comments.")
@click.option("--isolated", is_flag=True, help="Read no configuration file.")
@click.option("--output-format", type=click.Choice(list(_FORMATS)), default="text", show_default=True,
              help="text (= concise), full (with the source lines), json, sarif, github, junit, gitlab.")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this file instead of stdout.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="Exit 1 when --fix changed a file, even if nothing "
                                                            "remains to report.")
@click.option("--add-noqa", is_flag=True, help="Add `# noqa: CODE` to every line with a finding.")
@click.option("--stdin-filename", help="Read standard input as this file (for messages, per-file-ignores, "
                                       "and .ipynb notebooks).")
@click.option("-i", "--interactive", is_flag=True, help="With --fix: show each fix and ask before applying it.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the number of CPUs).")
@click.option("--no-progress", is_flag=True, help="No progress line on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings and nothing else.")
@click.option("--statistics", is_flag=True, help="Count findings per rule instead of listing them.")
@click.option("--show-files", is_flag=True, help="List the files that would be checked, and stop.")
@click.option("--verify", is_flag=True,
              help="Run each changed layer before and after its fixes (user code runs, in a child process); "
                   "with --fix, write only files whose fixes verified.")
@click.option("--verify-device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True)
@click.option("--verify-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds the verifying child may run.")
@click.option("--python", "python_path", help="The Python (with TensorFlow) that runs the verification; "
                                               "default: this one.")
def check(paths: tuple[str, ...], **flags) -> None:
    """Report (and with --fix or --diff, fix) findings in PATHS (files, folders or -)."""
    with interrupts.handled():
        try:
            _check(paths, Options(**flags))
        except KeyboardInterrupt:  # outside the file loop (which counts what it wrote): --verify, say
            click.echo("Interrupted: each file is either as it was or fully fixed.", err=True)
            sys.exit(130)


def _check(paths: tuple[str, ...], o: Options) -> None:
    o.fix = o.fix or o.fix_only
    if o.exit_zero and o.exit_non_zero_on_fix:  # as in Ruff, the two contradict each other
        raise click.UsageError("--exit-zero and --exit-non-zero-on-fix cannot be used together")
    if o.add_noqa and (o.fix or o.diff or o.verify or o.interactive):
        raise click.UsageError("--add-noqa writes `# noqa` comments; it goes with none of --fix, --diff, --verify, -i")
    if o.stdin_filename is not None:
        ignored = [p for p in paths if p != STDIN]
        if ignored:
            _warn(f"ignoring {', '.join(ignored)}: --stdin-filename reads standard input", o.quiet)
        paths = (STDIN,)
    paths = paths or (".",)
    if o.interactive and (not o.fix or o.diff or STDIN in paths):
        raise click.UsageError("-i/--interactive goes with --fix, on files (not with --diff or -)")
    try:
        command_line = RuleSelection(_codes(o.select, "--select") or None, _codes(o.extend_select, "--extend-select"),
                                     _codes(o.ignore + o.extend_ignore, "--ignore"))
        fixable = RuleSelection(_codes(o.fixable, "--fixable") or None, [], _codes(o.unfixable, "--unfixable"))
        config_paths = [Path(value) for value in o.config_values if not is_override(value)]
        if len(config_paths) > 1:
            raise ConfigError(f"--config names one file, not {len(config_paths)}: "
                              f"{', '.join(map(str, config_paths))}")
        overrides = ConfigOverrides(value for value in o.config_values if is_override(value))
        # Each file's settings are those of the nearest configuration above it (Ruff's hierarchy).
        configs = Configs(config_paths[0] if config_paths else None, o.isolated, command_line, o.unsafe_fixes,
                          overrides, fixable, parse_per_file_ignores(o.per_file_ignores))
        extend = Exclusions((p, None) for p in o.extend_exclude)
        exclude = _Excluded(configs, extend) if not o.exclude else Exclusions(
            [*((p, None) for p in o.exclude), *((p, None) for p in o.extend_exclude)])
        files, missing = discover(paths, exclude, o.respect_gitignore)
        for path in files:
            configs.for_path(o.stdin_filename or "-" if path == STDIN else path)
    except ConfigError as error:
        raise click.UsageError(str(error)) from error
    rules = [RULES_BY_CODE[code] for code in configs.union()]
    examples = {name: example for config in configs.loaded
                for name, example in config.verify.get("examples", {}).items()}
    if o.show_files or (missing and not files):  # a mistyped path or command must not check something else
        for path, message in missing:
            click.echo(f"error: {path}: {message}", err=True)
        for path in files:
            click.echo(display_path(path))
        sys.exit(EXIT_ERROR if missing else EXIT_CLEAN)
    if not files:
        _warn(f"no Python files found under {', '.join(paths)}", o.quiet)
    if o.verify:
        try:
            check_python(o.python_path)
        except VerifyUnavailable as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_ERROR)
    try:
        project = _project(files, o.stdin_filename, tuple({t for rule in rules for t in rule.triggers}))
    except Exception as error:  # the files can still be checked, each alone
        interrupts.check()
        _warn(f"the project index could not be built ({type(error).__name__}: {error}); "
              "each file is checked alone", o.quiet)
        project = None
    engine = Engine(rules, fix=(o.fix or o.diff or o.verify) and not o.add_noqa, unsafe_fixes=bool(o.unsafe_fixes),
                    ignored_for=configs.ignored_for, project=project, unsafe_for=configs.unsafe_for,
                    fixable_for=configs.fixable_for, ignore_noqa=o.ignore_noqa, previews=o.output_format == "sarif")
    report = RunReport(errors=list(missing), fix_mode=o.fix and not o.diff)
    with _report_stream(o.output_file) as out:
        if o.interactive:
            verifier = None
            if o.verify:
                def verifier(path: str, before: str, after: str) -> dict:
                    return verify_files([(path, before, after)], o.python_path, o.verify_device, o.verify_timeout,
                                        examples, project)[0]
            review_engine = engine.variant(fix=False, previews=False)
            # The check of every file (and the project phase: which functions other modules'
            # gradient paths call): the review starts from it.
            checked = {result.path: result for result in process_files(review_engine, files, o.jobs or default_jobs())}
            try:
                Review(review_engine, files, report, verifier, checked).run()
            except Interrupted:
                click.echo("\nInterrupted: nothing written; every file is unchanged.", err=True)
                sys.exit(130)
            _write_notes(report, o.quiet)
            for path, message in report.all_errors:
                click.echo(f"error: {path}: {message}", err=True)
            write_text(report, out, quiet=o.quiet)
            sys.exit(_exit_code(report, False, o))
        started = time.monotonic()
        mode = "noqa" if o.add_noqa else "diff" if o.diff else "fix" if o.fix and not o.verify else "check"
        stdin = _Stdin((o.fix and not o.diff) or o.add_noqa, o.stdin_filename) if STDIN in files else None
        diffs, added = _run(engine, files, report, mode, o.jobs or default_jobs(), stdin, progress=Progress(
            len(files), enabled=sys.stderr.isatty() and not o.no_progress and not o.quiet))
        if o.verify:
            _verify(report, engine, o.fix and not o.diff, o.python_path, o.verify_device, o.verify_timeout,
                    examples, stdin)
        if stdin is not None:
            stdin.close()
            if stdin.echoed and out is sys.stdout:
                out = sys.stderr  # stdout carries the code
        report.seconds = time.monotonic() - started
        _write_notes(report, o.quiet)
        for path, message in report.all_errors:
            click.echo(f"error: {path}: {message}", err=True)
        if o.add_noqa:
            if not o.quiet:
                click.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.", err=True)
            sys.exit(EXIT_ERROR if report.all_errors else EXIT_CLEAN)
        if o.diff:
            text = "".join(diffs)
            click.echo(text, nl=False)
            if o.verify:  # stdout carries the patch
                _write_verdicts(report, sys.stderr)
            if not o.quiet:
                would = sum(len(r.applied) for r in report.results)
                click.echo(f"Would fix {would} finding{'s' if would != 1 else ''}.", err=True)
            sys.exit(_exit_code(report, bool(text), o))
        if o.fix_only:  # findings left are not reported
            for result in report.results:
                result.findings = []
        if o.output_format in _TEXTS and o.statistics:
            write_statistics(report, out)
        elif o.output_format in _TEXTS:
            _FORMATS[o.output_format](report, out, quiet=o.quiet or (o.fix_only and not report.fixed),
                                      show_fixes=o.show_fixes)
        else:
            _FORMATS[o.output_format](report, out)
        if o.output_format in _TEXTS and o.verify:
            _write_verdicts(report, out)
        if o.output_format in _TEXTS and not o.quiet:
            click.echo(report.summary_line(), err=True)
    sys.exit(_exit_code(report, False, o))


_TEXTS = ("text", "concise", "full")  # the formats for people: summaries, --statistics, verdicts


class _Excluded:
    """The `exclude` of the configuration each file or folder takes (patterns relative to
    that configuration's folder), and the command line's `--extend-exclude`."""

    def __init__(self, configs: Configs, extend: Exclusions) -> None:
        self.configs, self.extend = configs, extend
        self._by_config: dict[Optional[Path], Exclusions] = {}

    def matches(self, path: Path) -> bool:
        config = self.configs.for_path(path)
        if config.path not in self._by_config:
            self._by_config[config.path] = Exclusions([(p, config.folder) for p in config.exclude])
        return self._by_config[config.path].matches(path) or self.extend.matches(path)


def _write_notes(report: RunReport, quiet: bool) -> None:
    """Files skipped for a reason the user should know (a notebook of another language)."""
    for result in report.results:
        if result.note:
            _warn(f"{display_path(result.path)}: {result.note}", quiet)


def _write_verdicts(report: RunReport, out: TextIO) -> None:
    for result in report.results:
        for name, verdict in result.verification.items():
            out.write(f"{display_path(result.path)}: {describe(name, verdict)}\n")
    out.write("".join(line + "\n" for line in summary_lines(report.results, display_path)))


def _warn(message: str, quiet: bool) -> None:
    if not quiet:
        click.echo(f"warning: {message}", err=True)


@contextmanager
def _report_stream(path: Optional[str]) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8")
    except OSError as error:
        raise click.UsageError(f"--output-file {path}: {error.strerror or error}") from error
    with handle:
        yield handle


class _Stdin:
    """Standard input, read once. With `echo` (--fix, --add-noqa), stdout gets the
    code back whatever happens: fixed if it was fixed, else exactly as it came."""

    def __init__(self, echo: bool, name: Optional[str]) -> None:
        self.echo = echo
        self.echoed = False
        self.name = name
        self.data = sys.stdin.buffer.read()
        self.output = self.data

    def close(self) -> None:
        if self.echo:
            sys.stdout.flush()
            sys.stdout.buffer.write(self.output)
            sys.stdout.buffer.flush()
            self.echo, self.echoed = False, True


def _project(files: list[str], stdin_filename: Optional[str], triggers: tuple[str, ...]) -> ProjectIndex:
    """The project index of the files and the package modules they import (docs/architecture.md
    "The project index");
    standard input counts as the file it names, when that file exists."""
    paths = [path for path in files if path != STDIN]
    if STDIN in files and stdin_filename and Path(stdin_filename).is_file():
        paths.append(stdin_filename)
    return ProjectIndex.build(paths, triggers)


def _run(engine: Engine, files: list[str], report: RunReport, mode: str, jobs: int,
         stdin: Optional[_Stdin], progress: Progress) -> tuple[list[str], int]:
    """Process every file (stdin first, then the rest in path order), writing, diffing or
    annotating as `mode` says. Returns the diffs and the number of noqa lines added."""
    diffs: list[str] = []
    added = 0
    held: dict[str, FileResult] = {}  # files changed with others, until all are in
    pooled = process_files(engine, [path for path in files if path != STDIN], jobs)
    try:
        results = chain([] if stdin is None else [_process_stdin(engine, stdin, report)], pooled)
        for result in results:
            interrupts.check()  # a Ctrl-C that became an error result
            report.results.append(result)
            if mode == "noqa":
                added += _write_noqa(result, report, stdin)
            elif mode == "diff":
                diffs.append(unified_diff(result))
            elif mode == "fix" and result.changed and result.linked:
                held[result.path] = result
                if result.linked <= held.keys():
                    write_together([held.pop(path) for path in sorted({result.path, *result.linked})], report)
            elif mode == "fix" and result.changed:
                _write(result, report, stdin)
            if not result.findings and not result.changed and not result.problems:
                result.source = None  # keep memory flat over large runs (a notebook's cell errors point into it)
            progress.advance(len(result.findings))
    except KeyboardInterrupt:
        pooled.close()  # stops the workers now, not at the interpreter's exit
        progress.close()
        if stdin is not None:
            stdin.close()
        if mode == "fix":
            written = sum(1 for r in report.results if r.applied and r.source is not None and r.path not in held)
            click.echo(f"Interrupted: {written} file{'s' if written != 1 else ''} written with every fix; "
                       "every other file is unchanged.", err=True)
        elif mode == "noqa":
            click.echo(f"Interrupted: {added} noqa directive{'s' if added != 1 else ''} added; "
                       "every other file is unchanged.", err=True)
        else:  # a check or a diff writes nothing: nothing to reassure about files
            click.echo(f"Interrupted after {len(report.results)} of {len(files)} file{'s' if len(files) != 1 else ''}; "
                       "nothing was written.", err=True)
        sys.exit(130)
    progress.close()
    for result in held.values():  # a file fixed with one that was not fixed after all
        report.errors.append((display_path(result.path), "not written: the other files of its fix were not"))
        result.revert()
    return diffs, added


def _verify(report: RunReport, engine: Engine, write: bool, python: Optional[str], device: str, timeout: float,
            examples: dict, stdin: Optional[_Stdin]) -> None:
    """Verify every changed file, a child process per batch; attach the verdicts to the
    findings; with `write`, write the fixes of the units that verified."""
    changed = [r for r in report.results if r.changed and not r.error]
    verdicts = verify_files([(r.path, r.source.text, r.new_text) for r in changed
                             if r.source is not None and r.new_text is not None],  # (all: they changed)
                            python, device, timeout, examples, engine.project)
    for result, units in zip(changed, verdicts):
        result.verification = units
        for finding in [*result.findings, *result.original_findings]:
            finding.verification = verdict_for(units, finding.symbol, _module_line(result, finding))
    # Counted before any file's fixes are taken back: a file not written was still changed by them.
    report.verification = tally(report.results)
    for result, units in zip(changed, verdicts):
        verified = verified_units(units)
        if write and units and verified == set(units):
            _write(result, report, stdin)
            continue
        partial = _verified_part(engine, result, units) if write and verified else None
        if partial is not None:
            result.new_text, result.applied, result.findings = partial.new_text, partial.applied, partial.findings
            result.fixed_findings = partial.fixed_findings  # what --show-fixes lists: the fixes written
            # The findings left are found again in the partly fixed text: each keeps its verdict.
            before = {(f.code, f.symbol, f.message, f.cell): f.verification for f in result.original_findings}
            for finding in result.findings:
                finding.verification = before.get((finding.code, finding.symbol, finding.message, finding.cell))
            _write(result, report, stdin)
        elif write:
            result.revert()
        if write:
            refused = ", ".join("nothing to run" if name == NOTHING else f"{name} {u['verdict']}"
                                for name, u in units.items() if u["verdict"] != "verified")
            kept = f" (written for {', '.join(sorted(verified))})" if partial is not None else ""
            click.echo(f"{display_path(result.path)}: fixes not written: {refused or 'nothing to run'}{kept}", err=True)
    if not write:
        for result in report.results:
            if result.original_findings:
                result.findings = result.original_findings


def _module_line(result: FileResult, finding) -> int:
    """A finding's line in the module text (a notebook's findings count lines within their cell)."""
    notebook = result.source.notebook if result.source is not None else None
    if finding.cell is None or notebook is None:
        return finding.line
    return notebook.module_line(finding.cell, finding.line)


def _verified_part(engine: Engine, result: FileResult, units: dict) -> Optional[FileResult]:
    """The file fixed again with only the fixes of its verified units, when each of those
    runs exactly as it was verified and nothing unverified changed; else None."""
    assert result.source is not None and result.new_text is not None  # (a changed file)
    partial = engine.variant(fix=True, previews=False,
                             accept=lambda finding: accepts(units, finding.symbol, finding.line)).process(result.source)
    if partial.error or not partial.changed or partial.new_text is None:
        return None
    verified = verified_names(units)
    if not {u.key for u in changed_units(result.source.text, partial.new_text)} <= verified:
        return None
    return partial if runs_as_verified(result.new_text, partial.new_text, verified) else None


def _process_stdin(engine: Engine, stdin: _Stdin, report: RunReport) -> FileResult:
    name = stdin.name
    try:
        source = read_source(STDIN, io.BytesIO(stdin.data), name=name)
    except NotPython as note:
        return FileResult(path=name or STDIN, note=str(note))
    except SourceError as error:
        return FileResult(path=name or STDIN, error=str(error))
    return engine.process(source)


def _write_noqa(result: FileResult, report: RunReport, stdin: Optional[_Stdin]) -> int:
    """Write `# noqa` for the file's findings; how many lines got one."""
    source = result.source
    if source is None or not result.findings:
        return 0
    # In a notebook, findings count lines within their cell; the comment goes in the module's line.
    # A noqa for an unused noqa would silence the finding instead of removing the stale code.
    text, added = add_noqa(source.text, [
        (f.line if f.cell is None or source.notebook is None else source.notebook.module_line(f.cell, f.line), f.code)
        for f in result.findings if f.code != UnusedNoqa.code])
    if not added:
        return 0
    try:
        # A comment changes no code: whatever else changed (a string) is not written.
        if ast.dump(ast.parse(text, source.path)) != ast.dump(ast.parse(source.text, source.path)):
            raise SourceError("it would change the code (please report it)")
        if source.from_stdin and stdin is not None:
            stdin.output = source.encode(text)
        else:
            write_source(source, text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError, SourceError) as error:
        report.errors.append((display_path(result.path), f"noqa not added: {error}"))
        return 0
    return added


def _write(result: FileResult, report: RunReport, stdin: Optional[_Stdin] = None) -> None:
    """Write the fixed file (for stdin: make it the output). If that fails, the
    file's findings are reported as they were before the fixes."""
    assert result.source is not None and result.new_text is not None
    try:
        if result.source.from_stdin and stdin is not None:
            stdin.output = result.source.encode(result.new_text)
        else:
            write_source(result.source, result.new_text)
    except (OSError, SourceError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        report.errors.append((display_path(result.path), f"not written: {reason}"))
        result.revert()


def _exit_code(report: RunReport, changed: bool, o: Options) -> int:
    if report.all_errors:
        return EXIT_ERROR
    if o.exit_non_zero_on_fix and (report.fixed or changed):
        return EXIT_FINDINGS
    if (report.findings or changed) and not o.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


@main.command()
@click.argument("code", required=False)
@click.option("--all", "every", is_flag=True, help="Explain every rule.")
def rule(code: Optional[str], every: bool) -> None:
    """Explain a rule, by code or name (TGF102, tensor-to-numpy): what it finds, why, an
    example, fix safety. With --all, every rule."""
    if every == (code is not None):
        raise click.UsageError("give a rule code or name, or --all")
    if every:
        click.echo("\n".join(render(found) for found in ALL_RULES), nl=False)
        return
    assert code is not None
    by_name = {found.name: found for found in ALL_RULES}
    found = RULES_BY_CODE.get(code.upper()) or by_name.get(code.lower().replace("_", "-"))
    if found is None:
        close = difflib.get_close_matches(code.lower(), list(by_name), n=1) or difflib.get_close_matches(
            code.upper(), list(RULES_BY_CODE), n=1)
        raise click.UsageError(f"unknown rule code or name: {code}{f' (did you mean {close[0]}?)' if close else ''}")
    click.echo(render(found), nl=False)


@main.command(name="rules")
def list_rules() -> None:
    """List all rules."""
    width = max(len(r.name) for r in RULES_BY_CODE.values())
    for code, found in RULES_BY_CODE.items():
        click.echo(f"{code}  {found.name:<{width}}  fix: {fix_kind(found):<6}  {found.summary}")
